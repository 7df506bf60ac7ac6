"""Formulas of matmul-class ops (`macs`) and the `flops_other` that comes with them.

Linear algebra, convolution, attention (SDPA and the fused MHA and encoder
fast paths), recurrent layers, grouped matmul and embedding bags. The
conventions are tabulated in `formulas.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_flopguard.measure.torch_engine.registry import (
    Formula,
    NotFromShapes,
    Shape,
    aten,
    first_shape,
    formula,
    numel,
    ops,
)

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
    return x[0] * numel(spatial) * numel(w)


@formula(aten.convolution, aten._convolution, *ops(["convolution_overrideable"]))
def _convolution(
    x: Shape, w: Shape, _b: Any, _s: Any, _p: Any, _d: Any, transposed: bool, *_: Any, out_shape: Shape, **__: Any
) -> int:
    return _conv_macs(x, w, out_shape, bool(transposed))


@formula(*ops(["cudnn_convolution", "_slow_conv2d_forward", "mkldnn_convolution"]))
def _conv_forward_only(x: Shape, w: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return _conv_macs(x, w, first_shape(out_shape), False)


@formula(*ops(["cudnn_convolution_transpose"]))
def _conv_transpose_only(x: Shape, w: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return _conv_macs(x, w, first_shape(out_shape), True)


# --- attention -----------------------------------------------------------------------

_SDPA_OPS = ops(
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
    return numel(q[:-2]) * q[-2] * k[-2]


@formula(*_SDPA_OPS)
def _sdpa(q: Shape, k: Shape, v: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    # Q @ K^T (E per score) then P @ V (Ev per score).
    return _score_elements(q, k) * (q[-1] + v[-1])


@formula(*_SDPA_OPS, kind="flops_other")
def _sdpa_softmax(q: Shape, k: Shape, v: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 5 * _score_elements(q, k)


# The flash and memory-efficient kernels called directly take [batch, seq, heads,
# dim], not SDPA's [batch, heads, seq, dim]; same convention otherwise.
# (FlopCounterMode reads both as [batch, heads, seq, dim]: on self-attention its
# figure is heads/seq of the work, 16x low with 4 heads over 64 positions.)
def _bshd_scores(q: Shape, k: Shape, cum_seq_q: Any) -> int:
    if cum_seq_q is not None:  # packed sequences: [total, heads, dim] with offsets
        raise NotFromShapes("variable-length attention: the work depends on the cum_seq values")
    return q[0] * q[2] * q[1] * k[1]  # batch * q_heads * Lq * Lk


@formula(*ops(["_flash_attention_forward"]))
def _flash_forward(q: Shape, k: Shape, v: Shape, cum_seq_q: Any = None, *_: Any, out_shape: Any, **__: Any) -> int:
    return _bshd_scores(q, k, cum_seq_q) * (q[-1] + v[-1])


@formula(*ops(["_flash_attention_forward"]), kind="flops_other")
def _flash_forward_softmax(
    q: Shape, k: Shape, v: Shape, cum_seq_q: Any = None, *_: Any, out_shape: Any, **__: Any
) -> int:
    return 5 * _bshd_scores(q, k, cum_seq_q)


@formula(*ops(["_efficient_attention_forward"]))
def _efficient_forward(
    q: Shape, k: Shape, v: Shape, _bias: Any = None, cu_seqlens_q: Any = None, *_: Any, out_shape: Any, **__: Any
) -> int:
    return _bshd_scores(q, k, cu_seqlens_q) * (q[-1] + v[-1])


@formula(*ops(["_efficient_attention_forward"]), kind="flops_other")
def _efficient_forward_softmax(
    q: Shape, k: Shape, v: Shape, _bias: Any = None, cu_seqlens_q: Any = None, *_: Any, out_shape: Any, **__: Any
) -> int:
    return 5 * _bshd_scores(q, k, cu_seqlens_q)


def _mha(q: Shape, k: Shape, embed_dim: int, heads: int) -> tuple[int, int]:
    """(macs, flops_other) of one multi-head attention with fused projections."""
    rows_q, rows_k, e = numel(q[:-1]), numel(k[:-1]), embed_dim
    scores = numel(q[:-2]) * heads * q[-2] * k[-2]
    projections = (rows_q + 2 * rows_k) * e * e + rows_q * e * e  # q, k, v in; out
    attention = numel(q[:-2]) * q[-2] * k[-2] * e * 2  # heads * head_dim = e
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
    rows, hidden = numel(src[:-1]), ffn_w1[0]
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
    rows = args[0][0] if packed else numel(args[0][:-1])  # every step of every sequence
    return rows, params, has_biases, layer_dirs


def _rnn_macs(*args: Any, out_shape: Any, **_: Any) -> int:
    rows, params, _b, _l = _rnn_parts(args)
    # Each row meets every weight matrix (w_ih, w_hh, w_hr) of every layer-direction.
    return rows * sum(numel(p) for p in params if len(p) == 2)


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


@formula(*ops(["mkldnn_rnn_layer"]))
def _mkldnn_rnn_layer(x: Shape, w_ih: Shape, w_hh: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return numel(x[:-1]) * (numel(w_ih) + numel(w_hh))


# --- grouped matmul, embedding bags ----------------------------------------------


@formula(*ops(["_grouped_mm"]))
def _grouped_mm(a: Shape, b: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    out = first_shape(out_shape)
    if len(a) == 2 and len(b) == 2:
        # K is split into groups and out is [G, M, N]: M * N * total_K.
        return numel(out[1:]) * a[-1]
    return numel(out) * a[-1]  # 2d x 3d, 3d x 2d, 3d x 3d: each output meets K


def _bag_work(args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, bool]:
    weight, indices = args[0], args[1]
    weighted = (args[6] if len(args) > 6 else kwargs.get("per_sample_weights")) is not None
    return numel(indices) * weight[-1], weighted


_BAG_OPS = ops(["_embedding_bag", "_embedding_bag_forward_only"])


@formula(*_BAG_OPS)
def _bag_macs(*args: Any, out_shape: Any, **kwargs: Any) -> int:
    work, weighted = _bag_work(args, kwargs)
    return work if weighted else 0


@formula(*_BAG_OPS, kind="flops_other")
def _bag_adds(*args: Any, out_shape: Any, **kwargs: Any) -> int:
    work, weighted = _bag_work(args, kwargs)
    return 0 if weighted else work
