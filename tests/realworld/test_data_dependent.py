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
