"""The budget as frozen data: what `flopguard.yaml` says, validated.

Only `loader.py` knows the file format; everything downstream reads these
types. Limits and tolerances are flat mappings keyed by metric key
(`flops`, `latency.cpu`, `latency_estimate.jetson-orin-nano`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopguard.errors import BudgetError, Location

DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")


@dataclass(frozen=True)
class TensorSpec:
    """A synthetic input tensor: random values, or valid ids for integer dtypes."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    # Half-open value range for integer inputs; None lets the runner choose
    # one valid for the model's embeddings.
    value_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class InputsSpec:
    """Positional and keyword tensors, or a `pkg.mod:function` that makes them."""

    args: tuple[TensorSpec, ...] = ()
    kwargs: tuple[tuple[str, TensorSpec], ...] = ()
    factory: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One budget entry. `errors` holds this entry's config errors, if any:
    such a model is reported with them instead of being measured."""

    name: str
    location: Location
    model: str | None = None  # "pkg.mod:factory"
    onnx: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    inputs: InputsSpec = InputsSpec()
    limits: Mapping[str, float] = field(default_factory=dict)
    tolerance: Mapping[str, float] = field(default_factory=dict)
    # Smallest growth worth a regression, per metric (`flops: 1M`): a change
    # regresses only past both its tolerance and its floor.
    floor: Mapping[str, float] = field(default_factory=dict)
    device: str = "cpu"
    # flat metric key -> line of that limit in the budget file
    limit_lines: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[BudgetError, ...] = ()


@dataclass(frozen=True)
class Budget:
    """A validated budget file. `root` is the folder factories import from."""

    path: Path
    display: str  # the file name as shown in messages
    version: int
    models: tuple[ModelSpec, ...]

    @property
    def root(self) -> Path:
        return self.path.parent

    def model(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def errors(self) -> tuple[BudgetError, ...]:
        return tuple(err for spec in self.models for err in spec.errors)
