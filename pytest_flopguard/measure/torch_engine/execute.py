"""How a model is run for counting: hybrid first, a real CPU run only if needed.

Hybrid execution builds the model with its weights on the meta device
(`build.py`) and feeds it real inputs (`hybrid.py`), so a 7B-parameter model
is counted in a second without memory for its weights, and code that needs
input-derived values (`.item()` on a mask, `nonzero()` on token ids) still
runs. Only when the model needs a value computed from its *weights* is it
rebuilt on the CPU with random weights and run for real — if those weights
fit in FLOPGUARD_MAX_REAL_BYTES — and the results say so in a note.
"""

from __future__ import annotations

import dataclasses
import os
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.torch_engine.build import weights_on_meta
from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.torch_engine.dynamo_shims import dynamo_shims_bypassed
from pytest_flopguard.measure.torch_engine.hybrid import HybridSession, WeightValueNeeded, user_line
from pytest_flopguard.measure.torch_engine.upper_bound import ASSUMPTIONS
from pytest_flopguard.measure.types import Measurement

Inputs = tuple[tuple[Any, ...], dict[str, Any]]
Build = Callable[[], torch.nn.Module]
MakeInputs = Callable[[torch.device, torch.nn.Module], Inputs]

# A real run allocates the weights; refuse above this (override with
# FLOPGUARD_MAX_REAL_BYTES) rather than exhaust a CI runner's memory.
DEFAULT_MAX_REAL_BYTES = 4 * 2**30
CPU = torch.device("cpu")


def count_model(build: Build, make_inputs: MakeInputs, build_on: str = "meta", upper_bound: bool = False) -> Measurement:
    """Count one forward pass of `build()` on the inputs `make_inputs` returns.

    `build_on="cpu"` (the budget's `build_on: cpu`) skips hybrid execution: the
    model is built with real random weights and run for real, within
    FLOPGUARD_MAX_REAL_BYTES. `upper_bound` (`data_dependent: upper_bound`)
    counts a data-dependent model on meta weights under the assumptions of
    `upper_bound.py` (every mask true, NMS keeps every box) instead of a real run.

    >>> count_model(lambda: torch.nn.Linear(4, 2), lambda device, model: ((torch.randn(1, 4),), {})).macs
    8
    """
    session = HybridSession(ASSUMPTIONS if upper_bound else None)
    with dynamo_shims_bypassed():  # meta kernels would import torch's compiler: ~1 s
        try:
            model: torch.nn.Module | None = _built(build, weights_on_meta(session))
        except Exception as exc:
            if build_on == "meta" and _because_of_meta(exc):
                raise _meta_build_failed(exc) from exc
            if build_on == "meta":
                raise  # the factory's own error, as it would be on the CPU
            model = None  # nothing to size before the real build
        if build_on == "cpu":
            reason, depends = "build_on: cpu in the budget", None
        else:
            assert model is not None  # a failed meta build raised above
            args, kwargs = _inputs(make_inputs, model)
            try:
                return _with_assumptions(count_forward(model, args, kwargs, below=session.running), session)
            except Exception as exc:  # the model's code needs real weights: see below
                reason = f"hybrid execution failed ({type(exc).__name__}: {_first_line(exc)})"
                # What read a weight-derived value decides the count: say so (`data_dependent`).
                depends = f"{exc.op} at {exc.where}" if isinstance(exc, WeightValueNeeded) else None
    if model is not None:
        _check_real_run_fits(model, reason)
    model = _built(build, CPU)
    args, kwargs = _inputs(make_inputs, model)
    measured = count_forward(model, args, kwargs)
    note = f"{reason}; counted a real CPU run with random weights (seed 0)"
    return dataclasses.replace(measured, notes=(*measured.notes, note), data_dependent=depends)


def _with_assumptions(measured: Measurement, session: HybridSession) -> Measurement:
    """Say what `data_dependent: upper_bound` assumed, and mark the model data-dependent."""
    if not session.assumed:
        return measured
    note = "data_dependent: upper_bound: counted on meta weights assuming " + "; ".join(
        f"{what} ({where})" for what, where in session.assumed.items()
    )
    first = next(iter(session.assumed.values()))
    return dataclasses.replace(measured, notes=(*measured.notes, note), data_dependent=first)


def _because_of_meta(exc: Exception) -> bool:
    """A weight's value was read, or a torch kernel refused a meta tensor ("...meta tensor",
    "...on the meta device"); any other error is the factory's own, on any device."""
    return isinstance(exc, WeightValueNeeded) or "meta" in str(exc).lower()


def _meta_build_failed(exc: Exception) -> FlopguardError:
    cause = f"{type(exc).__name__}: {_first_line(exc)}"
    where = user_line(traceback.extract_tb(exc.__traceback__))
    if where and where not in cause:  # WeightValueNeeded names its line already
        cause += f" at {where}"
    return FlopguardError(
        "FG311",
        f"the model cannot be built with its weights on the meta device: {cause}",
        fix="set `build_on: cpu` on this model in the budget to build it with real random weights "
        "(allowed up to FLOPGUARD_MAX_REAL_BYTES), or see docs/hybrid-execution.md",
    )


def _built(build: Build, context: AbstractContextManager[Any]) -> torch.nn.Module:
    torch.manual_seed(0)  # the same weights and inputs on every run
    with context:
        return build()


def _inputs(make_inputs: MakeInputs, model: torch.nn.Module) -> Inputs:
    torch.manual_seed(0)
    args, kwargs = make_inputs(CPU, model)
    return tuple(args), dict(kwargs)


def _check_real_run_fits(model: torch.nn.Module, reason: str) -> None:
    limit = int(os.environ.get("FLOPGUARD_MAX_REAL_BYTES", DEFAULT_MAX_REAL_BYTES))
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    if size > limit:
        from pytest_flopguard.budget.units import format_bytes

        raise FlopguardError(
            "FG310",
            f"counting needs real weights ({reason}), and they take {format_bytes(size)}, "
            f"over the {format_bytes(limit)} allowed for a real run",
            fix="make the value independent of the weights (see docs/hybrid-execution.md in pytest-flopguard), "
            "or raise FLOPGUARD_MAX_REAL_BYTES if the runner has the memory",
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 300 else line[:297] + "..."
