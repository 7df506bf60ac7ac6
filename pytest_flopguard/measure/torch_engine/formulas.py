"""Op -> formula registry: pure shape arithmetic for every counted aten op.

Each aten op seen in a forward pass is exactly one of:

* **counted** - it has a ``macs`` formula (matmul-class work; ``flops`` is
  ``2 * macs``, the ``torch.utils.flop_counter.FlopCounterMode`` convention)
  and/or a ``flops_other`` formula (elementwise, normalisation, softmax,
  pooling work, reported separately);
* **free** by design - on ``FREE`` (views, copies, factories, ...), or a view
  by its schema (it returns an alias of an input);
* **uncounted** - anything else; the counter reports it by name.

A formula receives the op's arguments with every tensor replaced by its shape
(a tuple of ints; lists of tensors become lists of shapes) and the keyword
``out_shape`` (the output's shape, or a tuple of shapes), and returns an int.

Counted as ``macs`` (= FlopCounterMode flops / 2 where it has the op):

=================================== ==============================================
mm, addmm, _addmm_activation,       m * k * n
_scaled_mm
bmm, baddbmm / addbmm               b * m * k * n
mv, addmv / dot, vdot               m * k / k
convolution family                  N * prod(out spatial) * prod(w); transposed:
                                    N * prod(in spatial) * prod(w). ``w`` is
                                    [c_out, c_in/groups, k..] so groups count
SDPA family (function-level sdpa,   batch*q_heads * Lq * Lk * (E + Ev): full
flash/efficient/cudnn, flash for    attention, no causal discount; GQA/MQA use
cpu, fused overrideable)            the query heads (K/V heads are broadcast)
_flash_attention_forward,           the same, read from [batch, L, heads, E];
_efficient_attention_forward        packed variable-length calls (cum_seq given)
                                    are uncounted: their work is in the values
_native_multi_head_attention        q/k/v in-projections + attention + out-proj
_transformer_encoder_layer_fwd      the above + the two FFN linears
lstm/gru/rnn_tanh/rnn_relu          rows * sum(numel of the weight matrices),
(function level), mkldnn_rnn_layer  rows = time steps * batch (packed: data rows)
_grouped_mm                         rows * K * N (FlopCounterMode lacks it)
_embedding_bag with per-sample w.   indices * D (one multiply-add per value)
=================================== ==============================================

``flops_other`` conventions (one per op):

=================================== ==============================================
ELEMENTWISE (incl. in-place, out=)  1 per output element, whatever the arity
bias of addmm/addmv/baddbmm/addbmm/ 1 per output element
convolution; _addmm_activation      2 per output element (bias + activation)
REDUCTIONS (sum, mean, amax, var,   1 per input element
argmax, cumsum, ...)
softmax, log_softmax; the softmax   5 per score element: max, subtract, exp,
inside every attention op           sum, divide
layer/group/instance norm, batch    4 per input element: mean, subtract,
norm on batch statistics            variance, scale by 1/std; 5 with an affine
                                    step (weight and/or bias)
batch norm on running stats         2 per input element (folded scale, shift)
_fused_rms_norm                     3 per input element: square, mean, scale;
                                    4 with a weight
max/avg pooling                     output elements * window size
adaptive pooling                    1 per input element
interpolating upsample              taps per output element: linear 2,
                                    bilinear 4, trilinear 8, bicubic 16
_embedding_bag, no sample weights   indices * D adds
RNN cells, per row and layer-       LSTM 13H, GRU 10H, RNN 2H (gate sums,
direction                           activations, state update) + 2*gates*H bias
=================================== ==============================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

# The formula families register themselves on import.
from pytest_flopguard.measure.torch_engine import formulas_matmul, formulas_other  # noqa: F401
from pytest_flopguard.measure.torch_engine.formulas_other import ELEMENTWISE, REDUCTIONS
from pytest_flopguard.measure.torch_engine.registry import (
    REGISTRY,
    Category,
    Formula,
    Kind,
    NotFromShapes,
    Shape,
    formula,
    lookup,
)

__all__ = [
    "ELEMENTWISE",
    "FREE",
    "REDUCTIONS",
    "Formula",
    "NotFromShapes",
    "Shape",
    "classify",
    "counted_ops",
    "evaluate",
    "formula",
    "is_view",
    "packet_name",
    "to_shapes",
]


def to_shapes(obj: Any) -> Any:
    """Replace every tensor in nested lists/tuples/dicts by its shape tuple."""
    if isinstance(obj, torch.Tensor):
        return tuple(int(d) for d in obj.shape)
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_shapes(x) for x in obj)
    if isinstance(obj, dict):
        return {k: to_shapes(v) for k, v in obj.items()}
    return obj


def evaluate(kind: Kind, op: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    """The ``kind`` count of one call of ``op`` (0 when it has no such formula)."""
    fn = lookup(kind, op)
    if fn is None:
        return 0
    return int(fn(*to_shapes(tuple(args)), out_shape=to_shapes(out), **to_shapes(kwargs)))


def classify(op: Any) -> Category:
    """Counted (has a formula), free (FREE or a view by schema), or uncounted."""
    if lookup("macs", op) is not None or lookup("flops_other", op) is not None:
        return "counted"
    if packet_name(op) in FREE or is_view(op):
        return "free"
    return "uncounted"


def packet_name(op: Any) -> str:
    """``aten.view`` for ``aten.view.default``; higher-order ops have no packet."""
    return str(getattr(op, "overloadpacket", op))


# Views that their schema does not mark as aliases ("unsafe" views).
UNTRACKED_VIEWS = frozenset(
    {"aten._unsafe_view", "aten.unsafe_split", "aten.unsafe_split_with_sizes", "aten.unsafe_chunk"}
)


def is_view(op: Any) -> bool:
    """True when every output aliases an input without writing to it."""
    if packet_name(op) in UNTRACKED_VIEWS:
        return True
    schema = getattr(op, "_schema", None)
    if schema is None:
        return False
    returns = schema.returns
    return bool(returns) and all(r.alias_info is not None and not r.alias_info.is_write for r in returns)


# --- FREE: no arithmetic by design (data movement, shape, allocation) ------------

_FREE_NAMES = """
view _unsafe_view _reshape_alias reshape view_as transpose t permute expand expand_as
select slice narrow unsqueeze squeeze split split_with_sizes unsafe_split
unsafe_split_with_sizes chunk unsafe_chunk unbind as_strided alias detach lift_fresh
lift_fresh_copy diagonal movedim unfold view_as_real view_as_complex _conj _neg_view
clone contiguous copy_ _to_copy to _copy_from _copy_from_and_resize cat stack index
index_select gather scatter index_put index_put_ _index_put_impl_ masked_select
masked_fill masked_fill_ where tril triu tril_ triu_ flip roll repeat repeat_interleave
constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d
replication_pad2d replication_pad3d embedding upsample_nearest1d upsample_nearest2d
upsample_nearest3d _upsample_nearest_exact1d _upsample_nearest_exact2d
_upsample_nearest_exact3d pixel_shuffle pixel_unshuffle channel_shuffle
native_channel_shuffle _pack_padded_sequence _pad_packed_sequence im2col slice_scatter select_scatter diagonal_scatter
as_strided_scatter nonzero sort topk argsort _local_scalar_dense set_ resize_
fill fill_ zero_ empty empty_like empty_strided new_empty new_empty_strided zeros
zeros_like ones ones_like full full_like new_zeros new_ones new_full arange linspace
scalar_tensor rand rand_like randn randn_like randint randint_like randperm normal
normal_ uniform_ bernoulli bernoulli_ eye _assert_async _assert_scalar
_assert_tensor_metadata _functional_assert_async sym_constrain_range
as_strided_ transpose_ t_ squeeze_ unsqueeze_ swapaxes_ swapdims_ detach_
"""
# The last line: in-place views. They rewrite a tensor's metadata only, but
# their schema marks `self` as written, so `is_view` does not see them.
_PROFILER_MARKERS = "profiler._record_function_enter profiler._record_function_enter_new profiler._record_function_exit"
FREE: frozenset[str] = frozenset([*(f"aten.{name}" for name in _FREE_NAMES.split()), *_PROFILER_MARKERS.split()])
"""Ops with no FLOPs by design: views, shape ops, copies, gathers, factories, RNG, profiler markers."""


def counted_ops() -> frozenset[str]:
    """Names (``aten.mm``) of every op with a formula, for review and tests."""
    return frozenset(str(op) for table in REGISTRY.values() for op in table)
