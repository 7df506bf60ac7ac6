"""compare(): the verdict table — zero base, new, removed, over-limit, improved."""

from __future__ import annotations

import pytest

from pytest_flopguard.compare.diff import Verdict, compare
from pytest_flopguard.compare.relaxed import Relaxation, relaxations
from pytest_flopguard.measure.types import LatencyStats, VersusBase
from pytest_flopguard.results import SHADOWED_IMPORT, ErrorInfo, ModelResult, Results


def results(models: dict[str, ModelResult], budget: tuple[str, ...] | None = None) -> Results:
    return Results(models=models, budget_models=tuple(models) if budget is None else budget)


def model(
    limits: dict[str, float] | None = None, tolerance: dict[str, float] | None = None, **metrics: float
) -> ModelResult:
    return ModelResult(metrics=metrics, limits=limits or {}, tolerance=tolerance or {})


@pytest.mark.parametrize(
    ("base", "head", "limits", "tolerance", "expected"),
    [
        (100, 100, None, None, Verdict.OK),
        (100, 101, None, None, Verdict.REGRESSED),  # deterministic: 0% by default
        (100, 99, None, None, Verdict.IMPROVED),
        (0, 0, None, None, Verdict.OK),  # zero base: no division
        (0, 5, None, None, Verdict.REGRESSED),
        (100, 104, None, {"flops": 0.05}, Verdict.OK),  # inside tolerance
        (100, 106, None, {"flops": 0.05}, Verdict.REGRESSED),
        (100, 120, {"flops": 110}, None, Verdict.OVER_LIMIT),  # over-limit beats regressed
        (100, 110, {"flops": 110}, None, Verdict.REGRESSED),  # at the limit is within it
        (200, 150, {"flops": 100}, None, Verdict.OVER_LIMIT),  # improved but still over
        (10**15, 10**15 + 1, None, None, Verdict.REGRESSED),  # huge: exact ints
    ],
)
def test_metric_verdicts(
    base: float, head: float, limits: dict[str, float] | None, tolerance: dict[str, float] | None, expected: Verdict
) -> None:
    comparison = compare(results({"m": model(flops=base)}), results({"m": model(limits, tolerance, flops=head)}))
    row = comparison.models[0].metrics[0]
    assert row.verdict == expected
    assert comparison.models[0].verdict == expected
    assert comparison.exit_code == (1 if expected in (Verdict.REGRESSED, Verdict.OVER_LIMIT) else 0)


def test_zero_base_has_no_relative_change() -> None:
    row = compare(results({"m": model(flops=0)}), results({"m": model(flops=5)})).models[0].metrics[0]
    assert row.delta == 5
    assert row.change is None


def test_new_and_removed_are_states() -> None:
    base = results({"old": model(flops=100), "kept": model(flops=1)})
    head = results({"new": model(flops=100), "kept": model(flops=1)})
    comparison = compare(base, head)
    by_name = {m.name: m for m in comparison.models}
    assert by_name["new"].verdict == Verdict.NEW
    assert by_name["new"].metrics[0].delta is None
    assert by_name["old"].verdict == Verdict.REMOVED
    assert by_name["old"].metrics[0].verdict == Verdict.REMOVED
    assert by_name["old"].metrics[0].change is None
    assert comparison.exit_code == 0


def test_new_model_over_its_limit_fails() -> None:
    comparison = compare(results({}), results({"new": model({"flops": 10}, flops=100)}))
    assert comparison.models[0].verdict == Verdict.OVER_LIMIT
    assert comparison.exit_code == 1


def test_unmeasured_budget_model_is_not_run_not_removed() -> None:
    base = results({"a": model(flops=1), "b": model(flops=1)})
    head = results({"a": model(flops=1)}, budget=("a", "b"))
    by_name = {m.name: m.verdict for m in compare(base, head).models}
    assert by_name == {"a": Verdict.OK, "b": Verdict.NOT_RUN}


def test_no_base_checks_limits_only() -> None:
    comparison = compare(None, results({"a": model({"params": 10}, params=5), "b": model({"params": 10}, params=11)}))
    assert [m.verdict for m in comparison.models] == [Verdict.OK, Verdict.OVER_LIMIT]
    assert not comparison.has_base


def test_error_model_fails_and_config_error_exits_2() -> None:
    broken = ModelResult(error=ErrorInfo("RuntimeError", "boom"))
    assert compare(None, results({"a": broken})).exit_code == 1
    config = ModelResult(error=ErrorInfo("BudgetError", "unknown key", "FG107"))
    comparison = compare(None, results({"a": config, "b": model(flops=1)}))
    assert comparison.models[0].verdict == Verdict.ERROR
    assert comparison.exit_code == 2


def test_errored_base_is_not_a_baseline() -> None:
    base = results({"a": ModelResult(error=ErrorInfo("RuntimeError", "boom"))})
    comparison = compare(base, results({"a": model(flops=100)}))
    assert comparison.models[0].metrics[0].base is None
    assert comparison.models[0].verdict == Verdict.OK


def test_ungated_metric_reports_but_does_not_fail() -> None:
    comparison = compare(results({"m": model(flops_other=100)}), results({"m": model(flops_other=200)}))
    assert comparison.models[0].verdict == Verdict.OK
    gated = compare(
        results({"m": model(flops_other=100)}), results({"m": model(tolerance={"flops_other": 0.1}, flops_other=200)})
    )
    assert gated.models[0].verdict == Verdict.REGRESSED


def test_metric_rows_in_report_order() -> None:
    comparison = compare(None, results({"m": model(params=1, flops=2, macs=1, memory_access=3)}))
    assert [r.key for r in comparison.models[0].metrics] == ["macs", "flops", "params", "memory_access"]


@pytest.mark.parametrize(
    ("base", "head", "tolerance", "floor", "expected"),
    [
        (100, 150, None, {"flops": 50}, Verdict.OK),  # growth at the floor is not past it
        (100, 151, None, {"flops": 50}, Verdict.REGRESSED),
        (0, 40, None, {"flops": 50}, Verdict.OK),  # a tiny model growing from zero
        (1000, 1200, {"flops": 0.1}, {"flops": 500}, Verdict.OK),  # past the tolerance, not the floor
        (1000, 1080, {"flops": 0.1}, {"flops": 10}, Verdict.OK),  # past the floor, not the tolerance
        (1000, 1200, {"flops": 0.1}, {"flops": 100}, Verdict.REGRESSED),  # past both
        (100, 101, None, None, Verdict.REGRESSED),  # default floor 0: exact
    ],
)
def test_floor(
    base: float, head: float, tolerance: dict[str, float] | None, floor: dict[str, float] | None, expected: Verdict
) -> None:
    new = ModelResult(metrics={"flops": head}, tolerance=tolerance or {}, floor=floor or {})
    row = compare(results({"m": model(flops=base)}), results({"m": new})).models[0].metrics[0]
    assert (row.verdict, row.floor) == (expected, (floor or {}).get("flops", 0.0))


def test_latency_floor_applies_to_every_device() -> None:
    # An interleaved decision flags +5% on cuda:1, but 0.5ms is within the 1ms floor set for `latency`.
    flagged = VersusBase("regressed", 1.05, 1.04, 1.06, 0.95, 0.0, "", True, 0.010)
    figures = LatencyStats(0.0105, 0.0104, 0.0106, 100, 1, versus_base=flagged)
    new = ModelResult(
        metrics={"latency.cuda:1": 0.0105},
        latency={"cuda:1": figures},
        tolerance={"latency": 0.0},
        floor={"latency": 0.001},
    )
    base = ModelResult(metrics={"latency.cuda:1": 0.010})
    row = compare(results({"m": base}), results({"m": new})).models[0].metrics[0]
    assert row.verdict == Verdict.OK


def entry(
    limits: dict[str, float], tolerance: dict[str, float] | None = None, floor: dict[str, float] | None = None
) -> ModelResult:
    return ModelResult(metrics={"flops": 1}, limits=limits, tolerance=tolerance or {}, floor=floor or {})


def test_relaxations_list_every_loosened_setting() -> None:
    base = results({"m": entry({"flops": 100, "params": 10, "macs": 50}, {"memory_access": 0.01}), "gone": entry({})})
    head = results(
        {
            "m": entry({"flops": 200, "macs": 40}, {"memory_access": 0.05, "flops_other": 0.1}, {"flops": 5}),
            "new": entry({"flops": 1}),
        }
    )
    assert relaxations(base, head) == (
        Relaxation("m", "limit", "flops", 100, 200),
        Relaxation("m", "limit", "params", 10, None),
        Relaxation("m", "tolerance", "memory_access", 0.01, 0.05),
        Relaxation("m", "floor", "flops", 0.0, 5),
    )  # macs tightened; flops_other newly gated; new/removed models are verdicts, not relaxations
    assert compare(base, head).relaxations == relaxations(base, head)
    assert compare(None, head).relaxations == ()


def test_ungating_a_metric_is_a_relaxation() -> None:
    base = results({"m": entry({}, {"flops_other": 0.1, "flops": 0.0})})
    head = results({"m": entry({})})
    assert relaxations(base, head) == (Relaxation("m", "tolerance", "flops_other", 0.1, None),)


def test_base_measuring_head_code_is_a_config_error() -> None:
    shadowed = ModelResult(metrics={"flops": 1}, error=ErrorInfo(SHADOWED_IMPORT, "imported from head", "FG410"))
    comparison = compare(results({"m": shadowed}), results({"m": model(flops=1)}))
    assert comparison.models[0].verdict == Verdict.ERROR
    assert comparison.models[0].error is not None and comparison.models[0].error.code == "FG410"
    assert comparison.exit_code == 2


def test_broken_base_is_reported_beside_the_head() -> None:
    broken = ModelResult(error=ErrorInfo("RuntimeError", "boom"))
    diff = compare(results({"m": broken}), results({"m": model(flops=1)})).models[0]
    assert diff.verdict == Verdict.OK and diff.error is None
    assert diff.base_error == broken.error


@pytest.mark.parametrize("setting", ["flops", "macs"])
def test_a_tolerance_on_flops_or_macs_governs_both(setting: str) -> None:
    base = results({"m": model(macs=1000, flops=2000)})
    head = results({"m": model(tolerance={setting: 0.02}, macs=1010, flops=2020)})  # +1%, inside 2%
    comparison = compare(base, head)
    assert [r.verdict for r in comparison.models[0].metrics] == [Verdict.OK, Verdict.OK]
    assert comparison.exit_code == 0


def test_a_flops_floor_is_half_as_many_macs() -> None:
    base = results({"m": model(macs=1000, flops=2000)})
    floors = ModelResult(metrics={"macs": 1040, "flops": 2080}, floor={"flops": 100})  # +40 MACs = +80 FLOPs
    assert compare(base, results({"m": floors})).models[0].verdict == Verdict.OK
    bigger = ModelResult(metrics={"macs": 1060, "flops": 2120}, floor={"flops": 100})  # +60 MACs > 50
    assert compare(base, results({"m": bigger})).models[0].verdict == Verdict.REGRESSED


def test_latency_estimate_growth_alone_does_not_fail_but_its_limit_does() -> None:
    base = results({"m": model(**{"latency_estimate.t4": 0.001})})
    grown = compare(base, results({"m": model(**{"latency_estimate.t4": 0.0011})}))
    assert grown.models[0].verdict == Verdict.OK
    limited = ModelResult(metrics={"latency_estimate.t4": 0.0011}, limits={"latency_estimate.t4": 0.001})
    assert compare(base, results({"m": limited})).models[0].verdict == Verdict.OVER_LIMIT


def test_another_flop_convention_is_an_error_not_a_regression() -> None:
    from dataclasses import replace

    from pytest_flopguard.errors import ResultsError

    base = replace(results({"m": model(flops=100)}), convention="flops = 1 x macs")
    with pytest.raises(ResultsError) as info:
        compare(base, results({"m": model(flops=200)}))
    assert info.value.code == "FG204"
    assert "another FLOP convention" in info.value.message
