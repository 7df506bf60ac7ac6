"""What the peer-case tests share: count a call with our counter, and with FlopCounterMode.

Our convention (docs/conventions.md): `macs` = multiply-accumulates of matmul-class
ops, `flops` = 2 * macs, everything else (bias adds, norms, activations, pooling,
softmax, interpolation) in `flops_other`; one forward pass, in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.types import Measurement


class Call(nn.Module):
    """A plain function as a model, so the counter can run it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


# Ops and figures the peers' tables need to convert: functional residual adds (which
# module-hook counters do not see) and max pooling (counted per input element by
# ptflops and calflops, per window element of each output by us).
RESIDUAL_ADD = "aten.add.Tensor"
MAXPOOL = "aten.max_pool2d_with_indices.default"
RESNET_POOL_INPUTS = 64 * 112 * 112  # the stem's 3x3/2 max pool reads 802,816 elements
# VGG's five 2x2/2 pools read 64*224*224 + 128*112*112 + 256*56*56 + 512*28*28 + 512*14*14
VGG_POOL_INPUTS = 6_121_472
# SqueezeNet's three 3x3/2 pools (ceil mode). 1_0: 96*109*109 + 256*54*54 + 512*27*27;
# 1_1: 64*111*111 + 128*55*55 + 256*27*27.
SQUEEZENET_POOL_INPUTS = {"1_0": 2_260_320, "1_1": 1_362_368}


def count(model: nn.Module | Callable[..., Any], *inputs: Any) -> Measurement:
    """Our count of one forward pass of `model(*inputs)`."""
    module = model if isinstance(model, nn.Module) else Call(model)
    return count_forward(module, inputs)


def reference_flops(model: nn.Module | Callable[..., Any], *inputs: Any) -> int:
    """torch.utils.flop_counter.FlopCounterMode's total for the same forward pass."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def other_of(m: Measurement, op: str) -> int:
    """Our `flops_other` of one aten op (`aten.add.Tensor`), 0 when it did not run."""
    stats = m.ops.get(op)
    return stats.flops_other if stats is not None else 0


def module_stats(m: Measurement, path: str) -> Any:
    return next(s for s in m.modules if s.path == path)


def meta(make: Callable[[], nn.Module]) -> nn.Module:
    """Build a model with its weights on meta: nothing is allocated."""
    with torch.device("meta"):
        return make()


def image(batch: int = 1, side: int = 224) -> torch.Tensor:
    return torch.empty(batch, 3, side, side, device="meta")
