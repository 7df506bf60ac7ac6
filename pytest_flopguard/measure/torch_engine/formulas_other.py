"""`flops_other` formulas: elementwise, reductions, normalisation, softmax, pooling, interpolation.

One convention per op, tabulated in `formulas.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_flopguard.measure.torch_engine.registry import Formula, Shape, aten, first_shape, formula, numel, ops

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
min nanmean nansum norm linalg_vector_norm prod std std_mean sum var var_mean histc bincount
"""
REDUCTIONS: frozenset[str] = frozenset(_REDUCTION_NAMES.split())


@formula(*ops(ELEMENTWISE, in_place=True), kind="flops_other")
def _per_output_element(*_: Any, out_shape: Any, **__: Any) -> int:
    return numel(first_shape(out_shape))


@formula(*ops(REDUCTIONS), kind="flops_other")
def _per_input_element(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return numel(x)


@formula(aten.addmm, aten.addmv, aten.baddbmm, aten.addbmm, kind="flops_other")
def _bias_add(*_: Any, out_shape: Any, **__: Any) -> int:
    return numel(first_shape(out_shape))


@formula(aten._addmm_activation, kind="flops_other")
def _bias_and_activation(*_: Any, out_shape: Any, **__: Any) -> int:
    return 2 * numel(first_shape(out_shape))


def _conv_bias(bias_at: int) -> Formula:
    def other(*args: Any, out_shape: Any, **kwargs: Any) -> int:
        bias = args[bias_at] if len(args) > bias_at else kwargs.get("bias")
        return 0 if bias is None else numel(first_shape(out_shape))

    return other


formula(
    aten.convolution, aten._convolution, *ops(["convolution_overrideable", "mkldnn_convolution"]), kind="flops_other"
)(_conv_bias(2))
formula(*ops(["_slow_conv2d_forward"]), kind="flops_other")(_conv_bias(3))


@formula(*ops(["_softmax", "_log_softmax", "_safe_softmax"]), kind="flops_other")
def _softmax(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 5 * numel(x)  # max, subtract, exp, sum, divide


def _normalised(x: Shape, weight: Any, bias: Any) -> int:
    # Per element: mean, subtract it, variance, scale by 1/std (4), plus the
    # affine step (x * w + b, one fused multiply-add) only when there is one.
    affine = weight is not None or bias is not None
    return (5 if affine else 4) * numel(x)


@formula(*ops(["native_layer_norm"]), kind="flops_other")
def _layer_norm(x: Shape, _shape: Any, weight: Any = None, bias: Any = None, *_: Any, out_shape: Any, **__: Any) -> int:
    return _normalised(x, weight, bias)


@formula(*ops(["native_group_norm"]), kind="flops_other")
def _group_norm(x: Shape, weight: Any = None, bias: Any = None, *_: Any, out_shape: Any, **__: Any) -> int:
    return _normalised(x, weight, bias)


@formula(*ops(["native_batch_norm", "_native_batch_norm_legit"]), kind="flops_other")
def _batch_norm(x: Shape, weight: Any = None, bias: Any = None, *args: Any, out_shape: Any, **_: Any) -> int:
    # `training` (batch statistics, as InstanceNorm always uses) is the first
    # bool argument in every overload.
    training = next((a for a in args if isinstance(a, bool)), True)
    return _normalised(x, weight, bias) if training else 2 * numel(x)


@formula(*ops(["_native_batch_norm_legit_no_training"]), kind="flops_other")
def _batch_norm_eval(x: Shape, *_: Any, out_shape: Any, **__: Any) -> int:
    return 2 * numel(x)  # running stats fold into one scale and one shift, affine or not


@formula(*ops(["_fused_rms_norm"]), kind="flops_other")
def _rms_norm(x: Shape, _shape: Any, weight: Any = None, *_: Any, out_shape: Any, **__: Any) -> int:
    return (4 if weight is not None else 3) * numel(x)  # square, mean, scale by 1/rms[, weight]


def _pool(dims: int) -> Formula:
    def other(_x: Shape, kernel: int | Sequence[int], *_: Any, out_shape: Any, **__: Any) -> int:
        window = [kernel] if isinstance(kernel, int) else list(kernel)
        if len(window) == 1:
            window = window * dims  # a single size means a square/cubic window
        return numel(first_shape(out_shape)) * numel(window)

    return other


for _dims in (1, 2, 3):
    _names = [f"max_pool{_dims}d", f"max_pool{_dims}d_with_indices", f"avg_pool{_dims}d"]
    formula(*ops(_names), kind="flops_other")(_pool(_dims))

_ADAPTIVE = [
    "_adaptive_avg_pool2d",
    "_adaptive_avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]
formula(*ops(_ADAPTIVE), kind="flops_other")(_per_input_element)


def _interpolate(taps: int) -> Formula:
    def other(*_: Any, out_shape: Any, **__: Any) -> int:
        return taps * numel(first_shape(out_shape))

    return other


for _name, _taps in {
    "upsample_linear1d": 2,
    "upsample_bilinear2d": 4,
    "_upsample_bilinear2d_aa": 4,
    "upsample_trilinear3d": 8,
    "upsample_bicubic2d": 16,
    "_upsample_bicubic2d_aa": 16,
}.items():
    formula(*ops([_name]), kind="flops_other")(_interpolate(_taps))
