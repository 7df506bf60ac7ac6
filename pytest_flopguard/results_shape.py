"""The shape of a results file (`results.py`): every field a reader takes, declared once.

`from_json` checks a file against `RESULTS_SHAPE` before it reads a value, so a
malformed file (a string where a number belongs, a list where an object does)
is refused with the path of the wrong field, never a crash later in a
comparison or a template. The shapes of the records read with `**` (modules,
ops, latency, errors, variants) come from their dataclasses' fields.
"""

from __future__ import annotations

from pytest_flopguard.budget.schema import Variant
from pytest_flopguard.measure.types import LatencyStats, ModuleStats, OpStats
from pytest_flopguard.metrics import METRICS
from pytest_flopguard.results import ErrorInfo, HistoryRef, TrendPoint
from pytest_flopguard.shape import Bool, Either, Int, ListOf, MapOf, Node, Num, Obj, Str, nullable
from pytest_flopguard.shape import of_dataclass as shape_of


def _metrics_shape(value: Node, latency: Node) -> Obj:
    """`{"flops": 1, "latency": {"cpu": LATENCY}, "latency_estimate": {"t4": 0.004}}`.

    Metrics of a newer tool are ignored by the reader, so they are not refused here.
    """
    return Obj(
        {
            name: MapOf(latency if name == "latency" else value) if m.per_device else value
            for name, m in METRICS.items()
        }
    )


_MEDIAN_ONLY = Obj({"median_s": Num()}, frozenset({"median_s"}), closed=True)

MODEL_SHAPE = Obj(
    {
        "metrics": _metrics_shape(Num(), Either("p10_s", shape_of(LatencyStats), _MEDIAN_ONLY)),
        "modules": ListOf(shape_of(ModuleStats)),
        "ops": MapOf(shape_of(OpStats)),
        "uncounted_ops": MapOf(Int()),
        "execution": Str(nullable=True),
        "notes": ListOf(Str()),
        "data_dependent": Str(nullable=True),
        "error": nullable(shape_of(ErrorInfo)),
        "output": Str(),
        "limits": _metrics_shape(Num(), Num()),
        "tolerance": MapOf(Num()),
        "limit_lines": MapOf(Int()),
        "floor": MapOf(Num()),
        "skipped": MapOf(Str()),
        "estimate_basis": MapOf(Str()),
        "variant": nullable(shape_of(Variant)),
        "accuracy": Num(nullable=True),
        "inputs_hash": Str(nullable=True),
        "reused": Bool(),
        "seconds": Num(nullable=True),
        "drift": MapOf(Num()),
        "ratchet": Bool(),
        "history": MapOf(shape_of(HistoryRef)),
        "trend": ListOf(shape_of(TrendPoint)),
    }
)
RESULTS_SHAPE = Obj(
    {
        "schema": Int(),
        "tool": Obj({"name": Str(), "version": Str()}, frozenset({"version"})),
        "convention": Obj({"flops": Str()}, frozenset({"flops"})),
        "env": Obj(
            {
                "python": Str(),
                "platform": Str(),
                "machine": Str(),
                "torch": Str(),
                "threads": Int(),
                "devices": MapOf(Str()),
            }
        ),
        "git": Obj(
            {"commit": Str(nullable=True), "ref": Str(nullable=True), "dirty": Bool(), "budget": Str(nullable=True)}
        ),
        "budget": Str(nullable=True),
        "budget_models": ListOf(Str()),
        "models": MapOf(MODEL_SHAPE),
    },
    frozenset({"schema", "tool", "convention", "models"}),
)
