"""The state a model is counted in: eval mode, frozen weights, no fused MHA fast path.

Counts must not depend on how the caller left the model or on its autograd
mode; these context managers set that state for one count and restore it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from pytest_flopguard.measure.torch_engine.traffic import tensors


def model_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *model.buffers()]


def execution(model: torch.nn.Module, inputs: Any) -> str:
    """`meta` (nothing real), `hybrid` (meta weights, real inputs) or `real`.

    Only parameters decide: a hybrid build keeps small buffers real.
    """
    weights_meta = all(p.is_meta for p in model.parameters())
    inputs_meta = all(t.is_meta for t in tensors(inputs))
    if weights_meta:
        return "meta" if inputs_meta else "hybrid"
    return "real"


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[None]:
    """Parameters without requires_grad while counting, as a deployed model.

    Some composite ops pick their kernels by requires_grad (matmul folds a
    batched input into one mm, with a copy, only when an operand requires
    grad), so a model whose factory freezes its weights would otherwise move
    different bytes than the same model left trainable.
    """
    # Inference tensors cannot have requires_grad set back outside inference mode.
    flags = [(p, p.requires_grad) for p in model.parameters() if p.requires_grad and not p.is_inference()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def mha_fastpath_off() -> Iterator[None]:
    # The fused MHA / encoder-layer fast path runs only without autograd: keep
    # it off so grad, no_grad and inference_mode callers see the same ops.
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)
