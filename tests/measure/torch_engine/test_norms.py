"""Normalisation layers in `flops_other`: 4 FLOPs per element without an affine step, 5 with one.

The recipe, per input element x of a normalised group of n elements:

    mean      += x               1  (sum, then one divide per group: not per element)
    d          = x - mean        1
    var       += d * d           1  (a fused multiply-add: squaring and summing in one)
    y          = d * inv_std     1  (inv_std = 1/sqrt(var/n + eps): once per group)
    y          = y * w + b       1  only with an affine step (weight and/or bias; one FMA)

so 4 per element without affine, 5 with it; batch norm on running statistics
folds mean, variance and the affine step into one scale and one shift: 2.
fvcore (`fvcore/nn/jit_handles.py`, `norm_flop_counter`) counts the same 4/5.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_flopguard.measure.torch_engine import formulas
from pytest_flopguard.measure.torch_engine.counter import count_forward

X = (2, 4, 5, 6)  # N, C, H, W: 240 elements
ELEMENTS = 2 * 4 * 5 * 6


def _functional_batch_norm(affine: bool) -> nn.Module:
    class BatchStats(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w, b = (torch.ones(4, device=x.device), torch.zeros(4, device=x.device)) if affine else (None, None)
            return F.batch_norm(x, None, None, w, b, training=True)

    return BatchStats()


CASES: list[tuple[str, Any, int]] = [
    # affine-free: 4 per element
    ("GroupNorm(affine=False)", lambda: nn.GroupNorm(2, 4, affine=False), 4),
    ("LayerNorm(elementwise_affine=False)", lambda: nn.LayerNorm([5, 6], elementwise_affine=False), 4),
    ("InstanceNorm2d default", lambda: nn.InstanceNorm2d(4), 4),
    (
        "BatchNorm2d(track_running_stats=False, affine=False)",
        lambda: nn.BatchNorm2d(4, affine=False, track_running_stats=False),
        4,
    ),
    ("F.batch_norm(training=True), no weight", lambda: _functional_batch_norm(affine=False), 4),
    # with an affine step: unchanged, 5 per element
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), 5),
    ("LayerNorm", lambda: nn.LayerNorm([5, 6]), 5),
    ("LayerNorm(bias=False)", lambda: nn.LayerNorm([5, 6], bias=False), 5),  # y * w: still the affine step
    ("InstanceNorm2d(affine=True)", lambda: nn.InstanceNorm2d(4, affine=True), 5),
    ("BatchNorm2d(track_running_stats=False)", lambda: nn.BatchNorm2d(4, track_running_stats=False), 5),
    ("F.batch_norm(training=True), weight and bias", lambda: _functional_batch_norm(affine=True), 5),
    # running statistics (eval): one folded scale and shift, affine or not
    ("BatchNorm2d eval", lambda: nn.BatchNorm2d(4), 2),
    ("BatchNorm2d(affine=False) eval", lambda: nn.BatchNorm2d(4, affine=False), 2),
    ("InstanceNorm2d(track_running_stats=True) eval", lambda: nn.InstanceNorm2d(4, track_running_stats=True), 2),
]


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize(("name", "make", "per_element"), CASES, ids=[c[0] for c in CASES])
def test_norm_flops_per_element(name: str, make: Any, per_element: int, device: str) -> None:
    m = count_forward(make().to(device), (torch.randn(*X, device=device),))
    assert (m.macs, m.flops_other) == (0, per_element * ELEMENTS), name  # e.g. 4 * 240 = 960
    assert m.uncounted_ops == {}
    # The roofline reads the same figure: its per-call FLOPs add up to flops + flops_other.
    assert sum(cost.flops for cost in m.op_costs) == m.flops + m.flops_other


def test_fused_rms_norm_without_weight_is_three_per_element() -> None:
    # square, mean, scale by 1/rms: 3; the weight multiply adds 1.
    aten = torch.ops.aten
    x, w = torch.empty(2, 8, device="meta"), torch.empty(8, device="meta")
    for weight, expected in ((None, 3 * 16), (w, 4 * 16)):
        out = aten._fused_rms_norm.default(x, [8], weight, 1e-6)
        assert (
            formulas.evaluate("flops_other", aten._fused_rms_norm.default, (x, [8], weight, 1e-6), {}, out) == expected
        )
