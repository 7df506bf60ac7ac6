"""Build a model with its weights on meta and everything else real.

Real model code computes with tensors in its constructor: torchvision's
RegNet derives its block widths with `torch.round(...).int().tolist()`, timm
makes drop-path rates with `[x.item() for x in torch.linspace(...)]`,
Ultralytics' YOLO runs a forward pass on `torch.zeros(1, 3, 256, 256)` to find
its strides, and position tables, rotary caches and relative-position indices
are filled with tensor arithmetic. Under a global `torch.device("meta")` every
one of them fails. So the factory runs with the CPU as its device, and only
what *becomes a weight* goes to meta:

* a parameter is replaced by a meta parameter when it is registered (the
  pattern of accelerate's `init_empty_weights`); the same parameter
  registered twice (tied weights) becomes the same meta parameter, so it is
  still counted once;
* a buffer stays real up to `MAX_REAL_FACTORY` elements (an anchor grid or an
  index table that forward code reads), and goes to meta above;
* a tensor factory above `MAX_REAL_FACTORY` elements lands on meta at once,
  so a 7B model's weight matrices and a 32k x 32k causal mask are never
  allocated;
* the hybrid dispatch of `hybrid.py` runs underneath, so constructor code
  that mixes weights and real tensors (a forward pass, `normal_` and the
  other initialisers) runs on meta and costs nothing;
* `.to(device)`, `.cpu()` and `.cuda()` of a meta tensor keep it on meta,
  with the dtype change applied: a factory that ends in `model.to("cpu")` or
  `.cuda()` still builds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary

from pytest_flopguard.measure.torch_engine.hybrid import (
    FACTORIES,
    MAX_REAL_FACTORY,
    META,
    FactoriesOnCpu,
    HybridSession,
    device_of,
    small_factory,
)

_LAZY = (nn.parameter.UninitializedParameter, nn.parameter.UninitializedBuffer)  # lazy modules: no shape yet
_MOVES = frozenset({torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda})


@contextlib.contextmanager
def weights_on_meta(session: HybridSession) -> Iterator[None]:
    """Run a model factory in this block: its parameters and large buffers land on meta."""
    with session.dispatch(), _BuildFactories(), _registered_on_meta():
        yield


class _BuildFactories(FactoriesOnCpu):
    """The hybrid factory rules, plus: huge factories to meta, meta tensors never leave it."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _MOVES and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return _moved_on_meta(func, args, kwargs)
        if func in FACTORIES and device_of(kwargs.get("device")) != META and not small_factory(func, args, kwargs):
            return func(*args, **{**kwargs, "device": META})
        return super().__torch_function__(func, types, args, kwargs)


def _moved_on_meta(func: Any, args: Any, kwargs: dict[str, Any]) -> torch.Tensor:
    """`meta.to(device, dtype)` -> `meta.to(dtype)`; `.cpu()`/`.cuda()` -> itself."""
    tensor = args[0]
    if func is not torch.Tensor.to:
        return tensor  # type: ignore[no-any-return]
    _, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args[1:], **kwargs)
    if dtype is None or dtype == tensor.dtype:
        return tensor  # type: ignore[no-any-return]
    moved: torch.Tensor = tensor.to(dtype=dtype, non_blocking=non_blocking, memory_format=memory_format or torch.preserve_format)
    return moved


@contextlib.contextmanager
def _registered_on_meta() -> Iterator[None]:
    """Patch `nn.Module.register_parameter`/`register_buffer` for the block."""
    memo: WeakIdKeyDictionary = WeakIdKeyDictionary()
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register_parameter(self, name, _on_meta(param, memo, keep_small=False))

    def buffer(self: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        register_buffer(self, name, _on_meta(tensor, memo, keep_small=True), persistent)

    nn.Module.register_parameter = parameter  # type: ignore[method-assign]
    nn.Module.register_buffer = buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
        nn.Module.register_buffer = register_buffer  # type: ignore[method-assign]


def _on_meta(tensor: Any, memo: WeakIdKeyDictionary, keep_small: bool) -> Any:
    if not isinstance(tensor, torch.Tensor) or tensor.is_meta or isinstance(tensor, _LAZY):
        return tensor
    if keep_small and tensor.numel() <= MAX_REAL_FACTORY:
        return tensor
    if tensor not in memo:
        memo[tensor] = _meta_copy(tensor)
    return memo[tensor]


def _meta_copy(tensor: torch.Tensor) -> torch.Tensor:
    with torch._C.DisableTorchFunction():  # our factory mode would make a small one real again
        meta = torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device=META)
    if not isinstance(tensor, nn.Parameter):
        return meta
    kind: Callable[..., nn.Parameter] = type(tensor)
    copy = kind(meta, requires_grad=tensor.requires_grad)
    copy.__dict__.update(tensor.__dict__)  # attributes models set on their weights (`_no_weight_decay`)
    return copy
