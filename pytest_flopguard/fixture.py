"""`measure(model, inputs)` for ordinary tests, and the `flopguard` fixture's API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_flopguard.budget import units
from pytest_flopguard.measure.types import Measurement
from pytest_flopguard.metrics import METRICS


@dataclass(frozen=True)
class Measured:
    """A `Measurement` with an assertion helper.

    >>> measure(torch.nn.Linear(512, 10), [(1, 512)]).assert_within(macs="5.12K")  # doctest: +SKIP
    """

    measurement: Measurement

    def __getattr__(self, name: str) -> Any:
        return getattr(self.measurement, name)

    def assert_within(self, **limits: str | int | float) -> None:
        """Fail with every metric over its limit; limits use budget-file units."""
        figures = self.measurement.metrics()
        failures = []
        for key, raw in limits.items():
            if key not in METRICS or key not in figures:
                raise TypeError(f"assert_within: unknown metric {key!r}; use one of {sorted(figures)}")
            limit = units.parse_metric_value(METRICS[key], raw)
            if figures[key] > limit:
                kind = METRICS[key].kind
                failures.append(
                    f"{key} {units.format_value(kind, figures[key])} > limit {units.format_value(kind, limit)} ({figures[key]} > {limit})"
                )
        if failures:
            raise AssertionError("flopguard: over budget: " + "; ".join(failures))


def measure(model: Any, inputs: Any = (), **kwargs: Any) -> Measured:
    """Count one forward pass of `model` (eval mode, no gradients).

    `inputs` is a list of shapes (float32 tensors are made), a list/tuple of
    tensors (positional arguments), or a single tensor; `kwargs` are passed
    as keyword arguments.
    """
    from pytest_flopguard.measure.torch_engine.counter import count_forward
    from pytest_flopguard.measure.torch_engine.dynamo_shims import dynamo_shims_bypassed

    with dynamo_shims_bypassed():  # a model on meta would import torch's compiler: ~1 s
        return Measured(count_forward(model, _args(model, inputs), kwargs))


def _args(model: Any, inputs: Any) -> tuple[Any, ...]:
    import torch

    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return tuple(torch.randn(*item, device=device) if _is_shape(item) else item for item in inputs)


def _is_shape(item: Any) -> bool:
    return isinstance(item, Sequence) and all(isinstance(d, int) for d in item)
