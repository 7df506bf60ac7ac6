"""Detection heads keep the boxes their scores pass: the count depends on the weights.
The figure must be the same on every run, and the results must say what made it so."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pytest_flopguard.measure.torch_engine.execute import count_model

torchvision = pytest.importorskip("torchvision")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "op", "where"),
    [
        ("fasterrcnn_mobilenet_v3_large_fpn", "aten.nonzero", "torchvision/ops/boxes.py"),
        ("retinanet_resnet50_fpn", "aten.index", "torchvision/models/detection/retinanet.py"),
    ],
)
def test_detection_counts_are_deterministic_and_marked_data_dependent(name: str, op: str, where: str) -> None:
    def build() -> torch.nn.Module:
        # 320 px (the transform's resize) keeps the real run short; the mechanism is the same at 800.
        return torchvision.models.get_model(name, weights=None, weights_backbone=None, min_size=320, max_size=320)

    runs = [count_model(build, lambda device, model: (([torch.rand(3, 320, 320)],), {})) for _ in range(3)]
    first = runs[0]
    assert all(dataclasses.replace(r, op_costs=()) == dataclasses.replace(first, op_costs=()) for r in runs[1:])
    assert first.execution == "real"
    assert first.data_dependent is not None and first.data_dependent.startswith(f"{op} at ")
    assert where in first.data_dependent
    assert first.params == sum(p.numel() for p in build().parameters())


@pytest.mark.slow
def test_upper_bound_counts_detection_on_meta_weights_with_the_real_runs_macs() -> None:
    """`data_dependent: upper_bound`: every box kept, no real run. Its MACs equal the seeded
    real run's, as the convolutions and box heads run on fixed sizes (post-NMS proposals
    are capped); only NMS and box decoding, outside MACs, grow with the boxes kept."""

    def build() -> torch.nn.Module:
        return torchvision.models.get_model(
            "retinanet_resnet50_fpn", weights=None, weights_backbone=None, min_size=320, max_size=320
        )

    def image(device: torch.device, model: torch.nn.Module) -> tuple[tuple[object, ...], dict[str, object]]:
        return ([torch.rand(3, 320, 320)],), {}

    bound, real = count_model(build, image, upper_bound=True), count_model(build, image)
    assert (bound.execution, real.execution) == ("hybrid", "real")
    assert bound.macs == real.macs and bound.params == real.params
    assert bound.flops_other >= real.flops_other
    (note,) = bound.notes
    assert "every weight-derived mask is all true (aten.index at torchvision/models/detection/retinanet.py:" in note
    assert "NMS keeps every box (torchvision.nms at torchvision/ops/boxes.py:" in note
