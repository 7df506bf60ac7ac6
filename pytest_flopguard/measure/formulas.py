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
layer/group norm, batch norm        5 per input element: mean, subtract,
in training                         variance, scale by 1/std, affine
batch norm on running stats         2 per input element (folded scale, shift)
_fused_rms_norm                     4 per input element: square, mean, scale, w
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

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

import torch
from torch._ops import OpOverload, OpOverloadPacket

aten = torch.ops.aten

Shape = tuple[int, ...]
Formula = Callable[..., int]
Kind = Literal["macs", "flops_other"]
Category = Literal["counted", "free", "uncounted"]
_F = TypeVar("_F", bound=Formula)

_REGISTRY: dict[Kind, dict[OpOverloadPacket | OpOverload, Formula]] = {
    "macs": {},
    "flops_other": {},
}


def formula(*targets: OpOverloadPacket | OpOverload, kind: Kind = "macs") -> Callable[[_F], _F]:
    """Register ``fn`` as the ``kind`` formula of each target; refuses duplicates.

    Example (``mylib::gemv`` being some library's custom op)::

        @formula(torch.ops.mylib.gemv)
        def gemv(a: Shape, v: Shape, *_: Any, out_shape: Shape, **__: Any) -> int:
            return a[0] * a[1]
    """
    table = _REGISTRY[kind]

    def register(fn: _F) -> _F:
        for target in targets:
            if not isinstance(target, (OpOverloadPacket, OpOverload)):
                raise TypeError(f"formula target must be an aten op, got {target!r}")
            if target in table:
                raise ValueError(f"duplicate {kind} formula for {target}")
            table[target] = fn
        return fn

    return register


def _lookup(kind: Kind, op: Any) -> Formula | None:
    table = _REGISTRY[kind]
    found = table.get(op)
    if found is None and isinstance(op, OpOverload):
        found = table.get(op.overloadpacket)
    return found


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
    fn = _lookup(kind, op)
    if fn is None:
        return 0
    return int(fn(*to_shapes(tuple(args)), out_shape=to_shapes(out), **to_shapes(kwargs)))


def classify(op: Any) -> Category:
    """Counted (has a formula), free (FREE or a view by schema), or uncounted."""
    if _lookup("macs", op) is not None or _lookup("flops_other", op) is not None:
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


def _ops(names: Iterable[str], in_place: bool = False) -> list[OpOverloadPacket]:
    """The aten packets of ``names`` that exist in this torch (and ``name_``)."""
    wanted = [n for name in names for n in ((name, name + "_") if in_place else (name,))]
    return [getattr(aten, n) for n in wanted if hasattr(aten, n)]


def _numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _first(out_shape: Any) -> Shape:
    """The first output's shape (``out_shape`` may be a tuple of shapes)."""
    if out_shape and isinstance(out_shape[0], (tuple, list)):
        return tuple(out_shape[0])
    return tuple(out_shape)


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
"""
FREE: frozenset[str] = frozenset(f"aten.{name}" for name in _FREE_NAMES.split())
"""Ops with no FLOPs by design: views, shape ops, copies, gathers, factories, RNG."""


# --- matmul class: macs ------------------------------------------------------------


@formula(aten.mm, aten._scaled_mm)
def _mm(a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return a[0] * a[1] * b[1]


@formula(aten.addmm, aten._addmm_activation)
def _addmm(_bias: Any, a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return a[0] * a[1] * b[1]


@formula(aten.bmm)
def _bmm(a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return a[0] * a[1] * a[2] * b[2]


@formula(aten.baddbmm, aten.addbmm)
def _baddbmm(_bias: Any, a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return a[0] * a[1] * a[2] * b[2]


@formula(aten.mv)
def _mv(mat: Shape, _vec: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return mat[0] * mat[1]


@formula(aten.addmv)
def _addmv(_bias: Any, mat: Shape, _vec: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return mat[0] * mat[1]


@formula(aten.dot, aten.vdot)
def _dot(a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return a[0]


def _conv_macs(x: Shape, w: Shape, out: Shape, transposed: bool) -> int:
    # Each output point (input point when transposed) meets the whole filter
    # bank of its group: prod(w) = c_out * c_in/groups * prod(kernel).
    spatial = x[2:] if transposed else out[2:]
    return x[0] * _numel(spatial) * _numel(w)


@formula(aten.convolution, aten._convolution, *_ops(["convolution_overrideable"]))
def _convolution(
    x: Shape, w: Shape, _b: Any, _s: Any, _p: Any, _d: Any, transposed: bool, *_: Any, out_shape: Shape, **__: Any
) -> int:
    return _conv_macs(x, w, out_shape, bool(transposed))


@formula(*_ops(["cudnn_convolution", "_slow_conv2d_forward", "mkldnn_convolution"]))
def _conv_forward_only(x: Shape, w: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return _conv_macs(x, w, _first(out_shape), False)


@formula(*_ops(["cudnn_convolution_transpose"]))
def _conv_transpose_only(x: Shape, w: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return _conv_macs(x, w, _first(out_shape), True)


# --- attention -----------------------------------------------------------------------

_SDPA_OPS = _ops(
    [
        "scaled_dot_product_attention",  # counted once at function level by the counter
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_fused_attention_overrideable",
    ]
)


def _score_elements(q: Shape, k: Shape) -> int:
    # [batch..., q_heads, Lq, Lk]; with GQA the K/V heads are broadcast to q's.
    return _numel(q[:-2]) * q[-2] * k[-2]


@formula(*_SDPA_OPS)
def _sdpa(q: Shape, k: Shape, v: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    # Q @ K^T (E per score) then P @ V (Ev per score).
    return _score_elements(q, k) * (q[-1] + v[-1])


@formula(*_SDPA_OPS, kind="flops_other")
def _sdpa_softmax(q: Shape, k: Shape, v: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 5 * _score_elements(q, k)


def _mha(q: Shape, k: Shape, embed_dim: int, heads: int) -> tuple[int, int]:
    """(macs, flops_other) of one multi-head attention with fused projections."""
    rows_q, rows_k, e = _numel(q[:-1]), _numel(k[:-1]), embed_dim
    scores = _numel(q[:-2]) * heads * q[-2] * k[-2]
    projections = (rows_q + 2 * rows_k) * e * e + rows_q * e * e  # q, k, v in; out
    attention = _numel(q[:-2]) * q[-2] * k[-2] * e * 2  # heads * head_dim = e
    biases = (rows_q + 2 * rows_k) * e + rows_q * e
    return projections + attention, 5 * scores + biases


@formula(aten._native_multi_head_attention)
def _native_mha(q: Shape, k: Shape, _v: Shape, embed_dim: int, heads: int, *_: Any, out_shape: Any, **__: Any) -> int:
    return _mha(q, k, embed_dim, heads)[0]


@formula(aten._native_multi_head_attention, kind="flops_other")
def _native_mha_other(
    q: Shape, k: Shape, _v: Shape, embed_dim: int, heads: int, *_: Any, out_shape: Any, **__: Any
) -> int:
    return _mha(q, k, embed_dim, heads)[1]


def _encoder_layer(args: Sequence[Any]) -> tuple[int, int]:
    src, e, heads, ffn_w1 = args[0], args[1], args[2], args[14]
    rows, hidden = _numel(src[:-1]), ffn_w1[0]
    macs, other = _mha(src, src, e, heads)
    macs += 2 * rows * e * hidden  # linear1 [E->F] and linear2 [F->E]
    # FFN biases + activation (2*F + E), two residual adds, two layer norms.
    other += rows * (2 * hidden + e) + 2 * rows * e + 2 * 5 * rows * e
    return macs, other


@formula(aten._transformer_encoder_layer_fwd)
def _encoder_layer_macs(*args: Any, out_shape: Any, **_: Any) -> int:
    return _encoder_layer(args)[0]


@formula(aten._transformer_encoder_layer_fwd, kind="flops_other")
def _encoder_layer_other(*args: Any, out_shape: Any, **_: Any) -> int:
    return _encoder_layer(args)[1]


# --- recurrent layers (counted once, at function level, by the counter) -----------

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
# Elementwise work per hidden unit of one step (see the module docstring):
# LSTM: gate sum 4 + activations 4 + c = f*c + i*g (3) + h = o*tanh(c) (2) = 13;
# GRU: r,z sum+sigmoid 4 + n = tanh(x_n + r*h_n) (3) + h = n + z*(h - n) (3) = 10;
# RNN: sum 1 + activation 1 = 2.
_CELL_OTHER = {"lstm": 13, "gru": 10, "rnn_tanh": 2, "rnn_relu": 2}


def _rnn_parts(args: Sequence[Any]) -> tuple[int, list[Shape], bool, int]:
    """(rows, flat params, has_biases, layers*directions) of an rnn-family call.

    ``.input`` overloads: (input, hx, params, has_biases, num_layers, dropout,
    train, bidirectional, batch_first); ``.data`` overloads (packed) insert
    ``batch_sizes`` second, so everything after it moves by one.
    """
    packed = isinstance(args[3], list)
    at = 3 if packed else 2
    params, has_biases = list(args[at]), bool(args[at + 1])
    layer_dirs = int(args[at + 2]) * (2 if args[at + 5] else 1)
    rows = args[0][0] if packed else _numel(args[0][:-1])  # every step of every sequence
    return rows, params, has_biases, layer_dirs


def _rnn_macs(*args: Any, out_shape: Any, **_: Any) -> int:
    rows, params, _b, _l = _rnn_parts(args)
    # Each row meets every weight matrix (w_ih, w_hh, w_hr) of every layer-direction.
    return rows * sum(_numel(p) for p in params if len(p) == 2)


def _rnn_other(mode: str) -> Formula:
    def other(*args: Any, out_shape: Any, **_: Any) -> int:
        rows, params, has_biases, layer_dirs = _rnn_parts(args)
        group = len(params) // layer_dirs  # w_ih, w_hh[, b_ih, b_hh][, w_hr]
        total = 0
        for w_hh in params[1::group]:
            gate_units = w_hh[0]  # gates * hidden_size
            hidden = gate_units // _GATES[mode]
            total += _CELL_OTHER[mode] * hidden + (2 * gate_units if has_biases else 0)
        return rows * total

    return other


for _mode in _GATES:
    _packet = getattr(aten, _mode)
    formula(_packet)(_rnn_macs)
    formula(_packet, kind="flops_other")(_rnn_other(_mode))


@formula(*_ops(["mkldnn_rnn_layer"]))
def _mkldnn_rnn_layer(x: Shape, w_ih: Shape, w_hh: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return _numel(x[:-1]) * (_numel(w_ih) + _numel(w_hh))


# --- grouped matmul, embedding bags ----------------------------------------------


@formula(*_ops(["_grouped_mm"]))
def _grouped_mm(a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    out = _first(out_shape)
    if len(a) == 2 and len(b) == 2:
        # K is split into groups and out is [G, M, N]: M * N * total_K.
        return _numel(out[1:]) * a[-1]
    return _numel(out) * a[-1]  # 2d x 3d, 3d x 2d, 3d x 3d: each output meets K


def _bag_work(args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, bool]:
    weight, indices = args[0], args[1]
    weighted = (args[6] if len(args) > 6 else kwargs.get("per_sample_weights")) is not None
    return _numel(indices) * weight[-1], weighted


_BAG_OPS = _ops(["_embedding_bag", "_embedding_bag_forward_only"])


@formula(*_BAG_OPS)
def _bag_macs(*args: Any, out_shape: Any, **kwargs: Any) -> int:
    work, weighted = _bag_work(args, kwargs)
    return work if weighted else 0


@formula(*_BAG_OPS, kind="flops_other")
def _bag_adds(*args: Any, out_shape: Any, **kwargs: Any) -> int:
    work, weighted = _bag_work(args, kwargs)
    return 0 if weighted else work


# --- flops_other ---------------------------------------------------------------------

_ELEMENTWISE_NAMES = """
abs acos acosh add addcdiv addcmul asin asinh atan atan2 atanh bitwise_and bitwise_not
bitwise_or bitwise_xor ceil celu clamp clamp_max clamp_min copysign cos cosh div elu eq
erf erfc erfinv exp exp2 expm1 floor floor_divide fmax fmin fmod frac ge gelu glu gt
hardsigmoid hardswish hardtanh heaviside hypot isinf isnan le leaky_relu lerp log log10
log1p log2 log_sigmoid_forward logaddexp logical_and logical_not logical_or logical_xor
logit lt maximum minimum mish mul nan_to_num ne neg pow _prelu_kernel reciprocal relu
remainder round rsqrt rsub sgn sigmoid sign silu sin sinh softplus sqrt square sub tan
tanh threshold trunc xlogy
"""
ELEMENTWISE: frozenset[str] = frozenset(_ELEMENTWISE_NAMES.split())

_REDUCTION_NAMES = """
all amax amin aminmax any argmax argmin cumprod cumsum logcumsumexp logsumexp max mean
min nanmean nansum norm linalg_vector_norm prod std std_mean sum var var_mean
"""
REDUCTIONS: frozenset[str] = frozenset(_REDUCTION_NAMES.split())


@formula(*_ops(ELEMENTWISE, in_place=True), kind="flops_other")
def _per_output_element(*_: Any, out_shape: Any, **__: Any) -> int:
    return _numel(_first(out_shape))


@formula(*_ops(REDUCTIONS), kind="flops_other")
def _per_input_element(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return _numel(x)


@formula(aten.addmm, aten.addmv, aten.baddbmm, aten.addbmm, kind="flops_other")
def _bias_add(*_: Any, out_shape: Any, **__: Any) -> int:
    return _numel(_first(out_shape))


@formula(aten._addmm_activation, kind="flops_other")
def _bias_and_activation(*_: Any, out_shape: Any, **__: Any) -> int:
    return 2 * _numel(_first(out_shape))


def _conv_bias(bias_at: int) -> Formula:
    def other(*args: Any, out_shape: Any, **kwargs: Any) -> int:
        bias = args[bias_at] if len(args) > bias_at else kwargs.get("bias")
        return 0 if bias is None else _numel(_first(out_shape))

    return other


formula(
    aten.convolution, aten._convolution, *_ops(["convolution_overrideable", "mkldnn_convolution"]), kind="flops_other"
)(_conv_bias(2))
formula(*_ops(["_slow_conv2d_forward"]), kind="flops_other")(_conv_bias(3))


@formula(*_ops(["_softmax", "_log_softmax", "_safe_softmax"]), kind="flops_other")
def _softmax(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 5 * _numel(x)  # max, subtract, exp, sum, divide


@formula(*_ops(["native_layer_norm", "native_group_norm"]), kind="flops_other")
def _norm(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 5 * _numel(x)  # mean, subtract, variance, scale by 1/std, affine


@formula(*_ops(["native_batch_norm", "_native_batch_norm_legit"]), kind="flops_other")
def _batch_norm(x: Shape, *args: Any, out_shape: Any, **_: Any) -> int:
    # `training` is the first bool argument in every overload.
    training = next((a for a in args if isinstance(a, bool)), True)
    return (5 if training else 2) * _numel(x)


@formula(*_ops(["_native_batch_norm_legit_no_training"]), kind="flops_other")
def _batch_norm_eval(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 2 * _numel(x)  # running stats fold into one scale and one shift


@formula(*_ops(["_fused_rms_norm"]), kind="flops_other")
def _rms_norm(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 4 * _numel(x)  # square, mean, scale by 1/rms, weight


def _pool(dims: int) -> Formula:
    def other(_x: Shape, kernel: int | Sequence[int], *_: Any, out_shape: Any, **__: Any) -> int:
        window = [kernel] if isinstance(kernel, int) else list(kernel)
        if len(window) == 1:
            window = window * dims  # a single size means a square/cubic window
        return _numel(_first(out_shape)) * _numel(window)

    return other


for _dims in (1, 2, 3):
    _names = [f"max_pool{_dims}d", f"max_pool{_dims}d_with_indices", f"avg_pool{_dims}d"]
    formula(*_ops(_names), kind="flops_other")(_pool(_dims))

_ADAPTIVE = [
    "_adaptive_avg_pool2d",
    "_adaptive_avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]
formula(*_ops(_ADAPTIVE), kind="flops_other")(_per_input_element)


def _interpolate(taps: int) -> Formula:
    def other(*_: Any, out_shape: Any, **__: Any) -> int:
        return taps * _numel(_first(out_shape))

    return other


for _name, _taps in {
    "upsample_linear1d": 2,
    "upsample_bilinear2d": 4,
    "_upsample_bilinear2d_aa": 4,
    "upsample_trilinear3d": 8,
    "upsample_bicubic2d": 16,
    "_upsample_bicubic2d_aa": 16,
}.items():
    formula(*_ops([_name]), kind="flops_other")(_interpolate(_taps))


def counted_ops() -> frozenset[str]:
    """Names (``aten.mm``) of every op with a formula, for review and tests."""
    return frozenset(str(op) for table in _REGISTRY.values() for op in table)
