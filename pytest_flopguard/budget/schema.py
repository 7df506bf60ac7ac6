"""The budget as frozen data: what `flopguard.yaml` says, validated.

Only `loader.py` knows the file format; everything downstream reads these
types. Limits and tolerances are flat mappings keyed by metric key
(`flops`, `latency.cpu`, `latency_estimate.jetson-orin-nano`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.errors import BudgetError, Location

# The devices `latency` can be measured on (`latency_estimate` takes profiles instead).
LATENCY_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
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
class TimingSpec:
    """How latency is measured: `timing: {threads: 1, time: 10s}`.

    One thread by default: on a shared 2-core runner, 2-thread latency swung
    tenfold with the neighbours' load (notes/latency.md). `time` is the most
    spent per model on one measurement or base/head decision (None: the default).
    """

    threads: int = 1
    time: float | None = None


@dataclass(frozen=True)
class Variant:
    """One deployment shape of a model family: `detector[1280-bf16]` (see `variants.py`).

    `resolution` is (height, width) and `batch` the first dim of the inputs, as
    the budget set or implied them; `dtype` None means as the factory builds it.
    Variants of one family with the same `group` differ only in resolution:
    the scaling check compares those.
    """

    family: str
    id: str
    resolution: tuple[int, int] | None = None
    batch: int | None = None
    dtype: str | None = None
    group: str = ""


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
    timing: TimingSpec = TimingSpec()
    # The device profiles its `latency_estimate` limits name (shipped or from `devices:`).
    profiles: Mapping[str, DeviceProfile] = field(default_factory=dict)
    # `dtype: bfloat16`: floating weights and inputs converted to it (None: as built).
    dtype: str | None = None
    variant: Variant | None = None  # set on the entries a `variants:`/matrix entry expands to
    accuracy: float | None = None  # the user's figure: reported and plotted, never gated
    timeout: float | None = None  # seconds one measurement may take in its worker (`timeout:`); None: default
    build_on: str = "meta"  # `build_on: cpu`: real random weights, no hybrid execution
    # `data_dependent: upper_bound`: weight-derived masks all true, NMS keeps every box, on meta
    data_dependent: str = "real_run"

    @property
    def latency_devices(self) -> tuple[str, ...]:
        """Devices of its `latency` limits: `("cpu", "cuda")`."""
        return tuple(key.partition(".")[2] for key in self.limits if key.startswith("latency."))


@dataclass(frozen=True)
class Budget:
    """A validated budget file. `root` is the folder factories import from."""

    path: Path
    display: str  # the file name as shown in messages
    version: int
    models: tuple[ModelSpec, ...]
    devices: Mapping[str, DeviceProfile] = field(default_factory=dict)  # `devices:`: the user's profiles

    @property
    def root(self) -> Path:
        return self.path.parent

    def model(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def names_for(self, name: str) -> tuple[str, ...]:
        """The entry `name`, or every variant of the family `name`: `("detector[640]", "detector[1280]")`."""
        exact = tuple(s.name for s in self.models if s.name == name)
        return exact or tuple(s.name for s in self.models if s.variant is not None and s.variant.family == name)

    @property
    def errors(self) -> tuple[BudgetError, ...]:
        return tuple(err for spec in self.models for err in spec.errors)
