"""ONNX formulas of matmul-class nodes: convolution, Gemm/MatMul, Einsum, attention, recurrent layers.

Conventions tabulated in `formulas.py`, equal to the torch engine's.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

from pytest_flopguard.measure.onnx_engine.registry import (
    MS,
    Counts,
    NodeView,
    Shape,
    Uncountable,
    formula,
    numel,
)

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
# Per hidden unit of one step, as torch_engine/formulas.py: LSTM 13, GRU 10, RNN 2.
_CELL = {"LSTM": 13, "GRU": 10, "RNN": 2}


@formula("LSTM", "GRU", "RNN")
def _rnn(n: NodeView) -> Counts:
    # X [T, B, I] (or [B, T, I]); W [dirs, G*H, I]; R [dirs, G*H, H]; B [dirs, 2*G*H].
    x, w, r = n.inp(0), n.inp(1), n.inp(2)
    rows, dirs, hidden = x[0] * x[1], r[0], r[2]
    bias = 2 * _GATES[n.op] * hidden if n.has(3) else 0
    return rows * (numel(w) + numel(r)), rows * dirs * (_CELL[n.op] * hidden + bias)
