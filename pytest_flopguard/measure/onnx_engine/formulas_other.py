"""ONNX `flops_other` formulas: elementwise, reductions, normalisation, softmax, pooling, resize.

Conventions in `formulas.py`, equal to the torch engine's.
"""

from __future__ import annotations

from pytest_flopguard.measure.onnx_engine.registry import (
    MS,
    Counts,
    Formula,
    NodeView,
    formula,
    numel,
)

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
