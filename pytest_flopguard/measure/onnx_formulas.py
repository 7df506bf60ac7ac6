"""ONNX op -> formula registry: the torch engine's conventions, for graph nodes.

Each node of a graph is exactly one of:

* **counted** - a formula below returns its ``(macs, flops_other)``;
* **free** by design - on ``FREE`` (layout, shape, copy and gather ops);
  those on ``VIEWS`` also move no bytes, as views in the torch engine;
* **uncounted** - anything else; the counter reports it by op type.

The conventions are those of ``formulas.py`` (the torch engine), so a model
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

import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

Shape = tuple[int, ...]
Counts = tuple[int, int]  # (macs, flops_other)
Formula = Callable[["NodeView"], Counts]
_F = TypeVar("_F", bound=Formula)

MS = "com.microsoft"
_REGISTRY: dict[tuple[str, str], Formula] = {}


class UnknownShape(Exception):
    """A shape the formula needs was not inferred."""


class Uncountable(Exception):
    """This use of the op has no convention (an einsum of three operands)."""


@dataclass(frozen=True)
class NodeView:
    """One node as a formula sees it: shapes of its inputs/outputs and its attributes.

    An absent optional input is ``has(i) == False``; a present one whose
    shape shape inference could not determine raises ``UnknownShape``.
    """

    op: str
    inputs: tuple[Shape | None, ...]
    present: tuple[bool, ...]
    outputs: tuple[Shape | None, ...]
    attrs: Mapping[str, Any]

    def has(self, i: int) -> bool:
        return i < len(self.present) and self.present[i]

    def inp(self, i: int) -> Shape:
        return _known(self.inputs[i] if self.has(i) else None)

    def out(self, i: int = 0) -> Shape:
        return _known(self.outputs[i] if i < len(self.outputs) else None)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


def _known(shape: Shape | None) -> Shape:
    if shape is None:
        raise UnknownShape
    return shape


def formula(*ops: str, domain: str = "") -> Callable[[_F], _F]:
    """Register ``fn`` as the formula of each op type of ``domain``; refuses duplicates.

    Example (a custom op of some library)::

        @formula("GemvFast", domain="mylib")
        def gemv(n: NodeView) -> Counts:
            rows, cols = n.inp(1)
            return rows * cols, 0
    """

    def register(fn: _F) -> _F:
        for op in ops:
            if (domain, op) in _REGISTRY:
                raise ValueError(f"duplicate formula for {domain or 'onnx'}::{op}")
            _REGISTRY[(domain, op)] = fn
        return fn

    return register


def lookup(domain: str, op: str) -> Formula | None:
    return _REGISTRY.get(("" if domain == "ai.onnx" else domain, op))


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


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


# --- matmul class ------------------------------------------------------------------------


def _conv(x: Shape, w: Shape, out: Shape, transposed: bool) -> int:
    # Each output point (input point when transposed) meets its group's whole
    # filter bank: prod(w) = c_out * c_in/groups * prod(kernel).
    return x[0] * numel(x[2:] if transposed else out[2:]) * numel(w)


def _bias(n: NodeView, at: int) -> int:
    return numel(n.out()) if n.has(at) else 0


@formula("Conv", "ConvInteger")
def _conv_node(n: NodeView) -> Counts:
    return _conv(n.inp(0), n.inp(1), n.out(), False), _bias(n, 2)


@formula("QLinearConv")
def _qlinear_conv(n: NodeView) -> Counts:
    return _conv(n.inp(0), n.inp(3), n.out(), False), _bias(n, 8)


@formula("FusedConv", domain=MS)
def _fused_conv(n: NodeView) -> Counts:
    activation = numel(n.out()) if n.attr("activation") else 0
    return _conv(n.inp(0), n.inp(1), n.out(), False), _bias(n, 2) + activation


@formula("ConvTranspose")
def _conv_transpose(n: NodeView) -> Counts:
    return _conv(n.inp(0), n.inp(1), n.out(), True), _bias(n, 2)


@formula("Gemm")
def _gemm(n: NodeView) -> Counts:
    a, out = n.inp(0), n.out()
    k = a[0] if n.attr("transA", 0) else a[1]
    return out[0] * k * out[1], _bias(n, 2)


def _matmul(a: Shape, out: Shape, trans_a: bool = False) -> int:
    # numpy matmul: every output element is a K-long dot product, whatever
    # the batching or broadcasting (a 1-d operand has no batch).
    k = a[-2] if trans_a and len(a) > 1 else a[-1]
    return numel(out) * k


@formula("MatMul", "MatMulInteger")
def _matmul_node(n: NodeView) -> Counts:
    return _matmul(n.inp(0), n.out()), 0


@formula("QLinearMatMul")
def _qlinear_matmul(n: NodeView) -> Counts:
    return _matmul(n.inp(0), n.out()), 0


@formula("FusedMatMul", domain=MS)
def _fused_matmul(n: NodeView) -> Counts:
    return _matmul(n.inp(0), n.out(), bool(n.attr("transA", 0))), 0


# --- einsum ----------------------------------------------------------------------------------


@formula("Einsum")
def _einsum(n: NodeView) -> Counts:
    equation = str(n.attr("equation", "")).replace(" ", "")
    operands = [n.inp(i) for i in range(len(n.inputs))]
    letters, output = _einsum_letters(equation, operands)
    sizes: dict[str, int] = {}
    for term, shape in zip(letters, operands, strict=True):
        for c, d in zip(term, shape, strict=True):
            sizes[c] = max(sizes.get(c, 1), d)  # a broadcast dim is 1 in one operand
    if len(operands) == 1:
        reduces = set(letters[0]) != set(output) or len(letters[0]) != len(output)
        return 0, (numel(operands[0]) if reduces else 0)
    if len(operands) != 2:
        raise Uncountable  # three or more operands: torch contracts them pairwise in an order we cannot know
    return _einsum_pair(letters[0], letters[1], output, sizes, operands)


def _einsum_pair(a: str, b: str, out: str, sizes: Mapping[str, int], shapes: Sequence[Shape]) -> Counts:
    other = 0
    # An index in one operand only, and not in the output, is summed out
    # first (torch does the same before its bmm).
    for term, shape, partner in ((a, shapes[0], b), (b, shapes[1], a)):
        if any(c not in partner and c not in out for c in term):
            other += numel(shape)
    kept = set(a) & (set(b) | set(out)), set(b) & (set(a) | set(out))
    contracted = (kept[0] & kept[1]) - set(out)
    if not contracted:
        return 0, other + numel([sizes[c] for c in out])  # an elementwise or outer product
    return numel([sizes[c] for c in kept[0] | kept[1]]), other


def _einsum_letters(equation: str, operands: Sequence[Shape]) -> tuple[list[str], str]:
    """Terms and output of an einsum equation, with '...' expanded to fresh letters."""
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise Uncountable
    spare = iter(c for c in string.ascii_letters if c not in equation)
    width = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, operands, strict=True)), default=0)
    dots = "".join(next(spare) for _ in range(width))
    expanded = [
        t.replace("...", dots[width - (len(s) - len(t.replace("...", ""))) :])
        for t, s in zip(terms, operands, strict=True)
    ]
    if arrow:
        output = rhs.replace("...", dots)
    else:  # implicit mode: broadcast dims, then letters seen once, sorted
        once = sorted(c for c in set("".join(terms)) if c != "." and "".join(terms).count(c) == 1)
        output = dots + "".join(once)
    return expanded, output


# --- attention ------------------------------------------------------------------------------


def _attention(batch_heads_lq: int, lk: int, e: int, ev: int) -> Counts:
    """Q @ K^T (E per score), P @ V (Ev per score), softmax 5 per score."""
    scores = batch_heads_lq * lk
    return scores * (e + ev), 5 * scores


@formula("Attention")
def _onnx_attention(n: NodeView) -> Counts:
    # Opset 23: Q [B, Hq, Lq, E] or [B, Lq, Hq*E]; K, V likewise with Hkv heads
    # (GQA broadcasts them to Hq); past_key [B, Hkv, Lpast, E] precedes K.
    q, k, v = n.inp(0), n.inp(1), n.inp(2)
    past = n.inp(4)[2] if n.has(4) else 0
    if len(q) == 4:
        return _attention(numel(q[:3]), past + k[2], q[3], v[3])
    heads, kv_heads = int(n.attr("q_num_heads")), int(n.attr("kv_num_heads"))
    return _attention(q[0] * heads * q[1], past + k[1], q[2] // heads, v[2] // kv_heads)


@formula("MultiHeadAttention", domain=MS)
def _ms_mha(n: NodeView) -> Counts:
    # query [B, S, D] (or packed [B, S, N, 3, H]); key/value [B, L, D] or
    # projected [B, N, L, H]; past_key (input 6) [B, N, Lpast, H] precedes them.
    q, heads = n.inp(0), int(n.attr("num_heads"))
    if len(q) == 5 or not n.has(1):
        b, s, d = q[0], q[1], heads * q[-1] if len(q) == 5 else q[2] // 3
        lk, dv = s, d
    else:
        b, s, d = q[0], q[1], q[2]
        k, v = n.inp(1), n.inp(2)
        lk = k[1] if len(k) == 3 else k[2]
        dv = v[2] if len(v) == 3 else v[1] * v[3]
    lk += n.inp(6)[2] if n.has(6) else 0
    macs, other = _attention(b * heads * s, lk, d // heads, dv // heads)
    return macs, other + (b * s * d + b * lk * (d + dv) if n.has(3) else 0)


@formula("Attention", domain=MS)
def _ms_attention(n: NodeView) -> Counts:
    # input [B, S, Din] @ weights [Din, Dq + Dk + Dv], bias, then attention;
    # past (input 4) [2, B, N, Lpast, H] precedes the new keys.
    x, w, heads = n.inp(0), n.inp(1), int(n.attr("num_heads"))
    hidden = [int(h) for h in n.attr("qkv_hidden_sizes", [])] or [w[1] // 3] * 3
    b, s = x[0], x[1]
    lk = s + (n.inp(4)[3] if n.has(4) else 0)
    macs, other = _attention(b * heads * s, lk, hidden[0] // heads, hidden[2] // heads)
    projection = b * s * x[2] * w[1]
    return macs + projection, other + (b * s * w[1] if n.has(2) else 0)


@formula("GroupQueryAttention", domain=MS)
def _ms_gqa(n: NodeView) -> Counts:
    # query [B, S, N*H] (or packed QKV without key); present_key [B, Nkv, Ltotal, H].
    q, heads, kv_heads = n.inp(0), int(n.attr("num_heads")), int(n.attr("kv_num_heads"))
    head = q[2] // (heads + 2 * kv_heads) if not n.has(1) else q[2] // heads
    total = n.out(1)[2] if len(n.outputs) > 1 else q[1]
    return _attention(q[0] * heads * q[1], total, head, head)


# --- recurrent layers --------------------------------------------------------------------------

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# Per hidden unit of one step, as formulas.py: LSTM 13, GRU 10, RNN 2.
_CELL = {"LSTM": 13, "GRU": 10, "RNN": 2}


@formula("LSTM", "GRU", "RNN")
def _rnn(n: NodeView) -> Counts:
    # X [T, B, I] (or [B, T, I]); W [dirs, G*H, I]; R [dirs, G*H, H]; B [dirs, 2*G*H].
    x, w, r = n.inp(0), n.inp(1), n.inp(2)
    rows, dirs, hidden = x[0] * x[1], r[0], r[2]
    bias = 2 * _GATES[n.op] * hidden if n.has(3) else 0
    return rows * (numel(w) + numel(r)), rows * dirs * (_CELL[n.op] * hidden + bias)


# --- flops_other ------------------------------------------------------------------------------

_ELEMENTWISE_NAMES = """
Abs Acos Acosh Add And Asin Asinh Atan Atanh BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor
Ceil Celu Clip Cos Cosh DequantizeLinear Div Elu Equal Erf Exp Floor Gelu Greater GreaterOrEqual
HardSigmoid HardSwish IsInf IsNaN LeakyRelu Less LessOrEqual Log Max Mean Min Mish Mod Mul Neg
Not Or Pow PRelu QuantizeLinear Reciprocal Relu Round Selu Shrink Sigmoid Sign Sin Sinh Softplus
Softsign Sqrt Sub Sum Swish Tan Tanh ThresholdedRelu Xor
"""
ELEMENTWISE: frozenset[str] = frozenset(_ELEMENTWISE_NAMES.split())

_REDUCTION_NAMES = """
ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum
ReduceLogSumExp ReduceSumSquare ArgMax ArgMin CumSum Hardmax GlobalAveragePool GlobalMaxPool
GlobalLpPool
"""
REDUCTIONS: frozenset[str] = frozenset(_REDUCTION_NAMES.split())


def _per_element(factor: int, of_input: bool = False) -> Formula:
    def other(n: NodeView) -> Counts:
        return 0, factor * numel(n.inp(0) if of_input else n.out())

    return other


formula(*ELEMENTWISE)(_per_element(1))
formula("Gelu", "QuickGelu", domain=MS)(_per_element(1))
formula("BiasGelu", "BiasAdd", domain=MS)(_per_element(2))  # bias add + activation / second add
formula(*REDUCTIONS)(_per_element(1, of_input=True))
formula("Softmax", "LogSoftmax")(_per_element(5, of_input=True))  # max, subtract, exp, sum, divide
# mean, subtract, variance, scale by 1/std, affine
formula("LayerNormalization", "GroupNormalization", "InstanceNormalization", "MeanVarianceNormalization")(
    _per_element(5, of_input=True)
)
formula("RMSNormalization", "SimplifiedLayerNormalization")(_per_element(4, of_input=True))  # square, mean, scale, w


@formula("FastGelu", domain=MS)
def _fast_gelu(n: NodeView) -> Counts:
    return 0, (2 if n.has(1) else 1) * numel(n.out())


@formula("SkipLayerNormalization", "SkipSimplifiedLayerNormalization", domain=MS)
def _skip_norm(n: NodeView) -> Counts:
    # The skip add (and the bias add, input 4), then the norm: 5 (layer) or 4 (RMS).
    norm = 5 if n.op == "SkipLayerNormalization" else 4
    return 0, (norm + 1 + (1 if n.has(4) else 0)) * numel(n.inp(0))


@formula("BatchNormalization")
def _batch_norm(n: NodeView) -> Counts:
    # Running statistics fold into one scale and one shift; training mode
    # computes them (5, as the torch engine).
    return 0, (5 if n.attr("training_mode", 0) else 2) * numel(n.inp(0))


@formula("MaxPool", "AveragePool", "LpPool")
def _pool(n: NodeView) -> Counts:
    return 0, numel(n.out()) * numel([int(k) for k in n.attr("kernel_shape", [])])


@formula("Resize", "Upsample")
def _resize(n: NodeView) -> Counts:
    mode = n.attr("mode", "nearest")
    spatial = max(len(n.out()) - 2, 1)
    taps = {"linear": 2, "bilinear": 2, "cubic": 4}.get(str(mode), 0) ** spatial if mode != "nearest" else 0
    return 0, taps * numel(n.out())


def counted_ops() -> frozenset[str]:
    """``domain::Op`` of every op with a formula (``::Conv`` for the default domain)."""
    return frozenset(f"{domain}::{op}" for domain, op in _REGISTRY)
