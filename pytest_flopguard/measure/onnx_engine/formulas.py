"""ONNX op -> formula registry: the torch engine's conventions, for graph nodes.

Each node of a graph is exactly one of:

* **counted** - a formula below returns its ``(macs, flops_other)``;
* **free** by design - on ``FREE`` (layout, shape, copy and gather ops);
  those on ``VIEWS`` also move no bytes, as views in the torch engine;
* **uncounted** - anything else; the counter reports it by op type.

The conventions are those of ``torch_engine/formulas.py`` (the torch engine), so a model
counted from PyTorch and from its ONNX export agree:

=================================== ==============================================
Conv, ConvInteger, QLinearConv,     N * prod(out spatial) * prod(W); W is
FusedConv                           [M, C/group, k..] so groups count; bias 1/output
ConvTranspose                       N * prod(in spatial) * prod(W); bias 1/output
Gemm                                M * K * N; C (bias) 1/output
MatMul, MatMulInteger,              output elements * K (batched and broadcast)
QLinearMatMul, FusedMatMul
Einsum (two operands)               with a contracted index: product of all index
                                    sizes (what torch's bmm does); otherwise
                                    1/output (a product); one operand: 1/input
                                    element if it reduces, free if it permutes
Attention (opset 23),               batch * q_heads * Lq * Lk * (E + Ev), softmax
com.microsoft MultiHeadAttention,   5/score; com.microsoft.Attention adds its QKV
GroupQueryAttention, Attention      projection (and bias 1/element)
LSTM, GRU, RNN                      rows * (numel W + numel R), rows = T * batch;
                                    cells LSTM 13H, GRU 10H, RNN 2H per row and
                                    direction, + 2 * gates * H with a bias
=================================== ==============================================

``flops_other``: elementwise 1/output element; reductions (Reduce*, ArgMax,
CumSum) and global pooling 1/input element; Softmax/LogSoftmax 5/element;
LayerNormalization, GroupNormalization, InstanceNormalization 5/element;
RMS norms 4/element; BatchNormalization 2/element on running statistics
(5 with ``training_mode``); MaxPool/AveragePool/LpPool output * window;
Resize linear 2 taps per output per spatial dim (bilinear 4), cubic 4 per dim
(bicubic 16), nearest free.
"""

from __future__ import annotations

# The formula families register themselves on import.
from pytest_flopguard.measure.onnx_engine import formulas_matmul, formulas_other  # noqa: F401
from pytest_flopguard.measure.onnx_engine.registry import (
    REGISTRY,
    Formula,
    NodeView,
    Uncountable,
    UnknownShape,
    formula,
    lookup,
)

__all__ = ["FREE", "VIEWS", "Formula", "NodeView", "Uncountable", "UnknownShape", "counted_ops", "formula", "lookup"]


# --- FREE: no arithmetic by design ----------------------------------------------------

_VIEW_NAMES = """
Reshape Flatten Squeeze Unsqueeze Identity Transpose Expand Slice Split Dropout Shape Size
Constant Optional OptionalGetElement OptionalHasElement
"""
VIEWS: frozenset[str] = frozenset(_VIEW_NAMES.split())
"""Free ops that move no bytes: views and shape queries in the torch engine's terms."""

_FREE_NAMES = """
Gather GatherElements GatherND Concat Cast CastLike ConstantOfShape Tile Pad Where Trilu Range
ScatterND ScatterElements Scatter NonZero TopK DepthToSpace SpaceToDepth EyeLike OneHot
Compress ReverseSequence RandomNormal RandomNormalLike RandomUniform RandomUniformLike Bernoulli
SplitToSequence SequenceAt SequenceConstruct SequenceEmpty SequenceInsert SequenceLength
ConcatFromSequence CenterCropPad
"""
FREE: frozenset[str] = VIEWS | frozenset(_FREE_NAMES.split())
"""ONNX ops with no FLOPs by design: layout, shape, copies, gathers, factories, RNG."""


def counted_ops() -> frozenset[str]:
    """``domain::Op`` of every op with a formula (``::Conv`` for the default domain)."""
    return frozenset(f"{domain}::{op}" for domain, op in REGISTRY)
