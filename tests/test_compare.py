"""compare(): the verdict table — zero base, new, removed, over-limit, improved."""

from __future__ import annotations

import pytest

from pytest_flopguard.compare.diff import Verdict, compare
from pytest_flopguard.results import ErrorInfo, ModelResult, Results


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
