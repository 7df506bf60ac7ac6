"""The pull request report, one golden file per situation a reviewer meets.

Regenerate after an intended change with
`FLOPGUARD_UPDATE_GOLDEN=1 pytest tests/render/test_report_golden.py` and review the diff.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import pytest

from pytest_flopguard.budget.schema import Variant
from pytest_flopguard.budget.variant_parse import SHORT_DTYPES
from pytest_flopguard.compare.diff import Comparison, compare
from pytest_flopguard.render.markdown import MARKER, MAX_CHARS, render_markdown
from pytest_flopguard.results import ErrorInfo, ModelResult, Results
from tests.render.test_render import check_golden, cnn, module

GIT_BASE = {"commit": "1a2b3c4d5e6f7a8b9c0d" * 2, "ref": "main", "dirty": False}
GIT_HEAD = {"commit": "9f8e7d6c5b4a39281706" * 2, "ref": "feature", "dirty": False}


def results(models: dict[str, ModelResult], git: dict[str, object]) -> Results:
    return Results(models=models, budget_models=tuple(models), git=git)


def pair(base: dict[str, ModelResult], head: dict[str, ModelResult]) -> Comparison:
    return compare(results(base, GIT_BASE), results(head, GIT_HEAD))


def all_pass() -> Comparison:
    return pair({"classifier": cnn(32), "detector": cnn(40)}, {"classifier": cnn(32), "detector": cnn(40)})


def one_regression() -> Comparison:
    return pair({"classifier": cnn(32), "detector": cnn(40)}, {"classifier": cnn(36), "detector": cnn(40)})


def over_limit() -> Comparison:
    return pair({"classifier": cnn(32)}, {"classifier": cnn(80, {"flops": 10_000_000})})


def new_and_removed() -> Comparison:
    return pair({"classifier": cnn(32), "legacy": cnn(8)}, {"classifier": cnn(32), "segmenter": cnn(20)})


def error_in_one_model() -> Comparison:
    broken = ModelResult(
        error=ErrorInfo("RuntimeError", "mat1 and mat2 shapes cannot be multiplied", where="models/head.py:41")
    )
    return pair({"classifier": cnn(32), "head": cnn(8)}, {"classifier": cnn(32), "head": broken})


def crashed_with_output() -> Comparison:
    """A segfault in the worker: the user's frames and what the model printed, fenced."""
    crashed = ModelResult(
        error=ErrorInfo(
            "crashed (SIGSEGV)",
            "the worker died while measuring this model",
            code="FG351",
            where="models/head.py:12",
            traceback='  File "models/head.py", line 30, in forward\n  File "models/head.py", line 12, in _kernel',
        ),
        output="loading kernel ```cuda``` for @octocat\n</details> <b>not markup</b>\n",
    )
    return pair({"classifier": cnn(32), "head": cnn(8)}, {"classifier": cnn(32), "head": crashed})


def relaxed_budget() -> Comparison:
    loosened = replace(cnn(36, {"flops": 20_000_000}), tolerance={"macs": 0.2, "flops": 0.2})
    return pair({"classifier": cnn(32)}, {"classifier": loosened})


def detector(size: int, dtype: str, macs: int) -> ModelResult:
    """One variant of a detector family: bfloat16 moves half the bytes of float32."""
    element = 2 if dtype == "bfloat16" else 4
    return ModelResult(
        metrics={"macs": macs, "flops": 2 * macs, "params": 50_000, "memory_access": element * macs // 100},
        modules=(module("", macs, 50_000), module("backbone", macs - 100, 49_000)),
        limits={"flops": 10_000_000},
        variant=Variant("detector", f"{size}-{SHORT_DTYPES[dtype]}", (size, size), 1, dtype, SHORT_DTYPES[dtype]),
    )


def variant_family() -> Comparison:
    """detector[640|1280-fp32|bf16]: the change adds global attention, so 1280 grows and outgrows its pixels."""
    sizes = {640: (1_000_000, 1_000_000), 1280: (4_000_000, 4_600_000)}  # MACs base, head: x4 the pixels, x4.6 the MACs
    base, head = {}, {}
    for (size, (old, new)), dtype in itertools.product(sizes.items(), ("float32", "bfloat16")):
        name = f"detector[{size}-{SHORT_DTYPES[dtype]}]"
        base[name], head[name] = detector(size, dtype, old), detector(size, dtype, new)
    return pair(base, head)


SCENARIOS: dict[str, Callable[[], Comparison]] = {
    "all_pass": all_pass,
    "one_regression": one_regression,
    "over_limit": over_limit,
    "new_and_removed": new_and_removed,
    "error_in_one_model": error_in_one_model,
    "crashed_with_output": crashed_with_output,
    "relaxed_budget": relaxed_budget,
    "variant_family": variant_family,
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden(name: str) -> None:
    report = render_markdown(SCENARIOS[name]())
    check_golden(f"{name}.md", report)
    assert report.startswith(MARKER + "\n")
    assert "+100%" not in report and "-100%" not in report


def many_models() -> Comparison:
    """500 models with 120-character names; three of them changed."""
    names = [f"zoo/{i:03d}/" + "very_long_model_family_name_" * 4 + f"{i}" for i in range(500)]
    base = {n: cnn(16) for n in names}
    head = dict(base)
    head[names[7]] = cnn(20)
    head[names[250]] = cnn(30, {"flops": 1_000_000})
    del head[names[499]]
    return pair(base, head)


def test_500_long_names_fit_github_with_marker_and_changed_rows() -> None:
    comparison = many_models()
    report = render_markdown(comparison)
    check_golden("many_models.md", report)
    assert len(report) <= MAX_CHARS
    assert report.startswith(MARKER + "\n")
    assert "497 more model(s) unchanged and within their limits" in report
    assert "Trimmed to fit GitHub's comment size limit: the rows of 497 unchanged model(s)" in report
    for name in ("zoo/007/", "zoo/250/", "zoo/499/"):  # regressed, over-limit, removed: all still in the table
        assert f"| {name}very_long" in report


def test_rows_are_cut_last_and_failing_rows_kept() -> None:
    comparison = many_models()
    report = render_markdown(comparison, max_chars=1_500)
    assert len(report) <= 1_500
    assert "zoo/250/" in report  # over-limit rows survive
    assert "more table row(s)" in report


def test_unchanged_results_give_an_identical_report() -> None:
    assert render_markdown(one_regression()) == render_markdown(one_regression())


def test_a_report_of_errors_alone_still_fits() -> None:
    """Error lines are never trimmed by the plans; the last resort cuts them at a line end."""
    broken = {f"model_{i:04d}_" + "x" * 80: ModelResult(error=ErrorInfo("RuntimeError", "y" * 300)) for i in range(400)}
    report = render_markdown(pair({}, broken), max_chars=MAX_CHARS)
    assert len(report) <= MAX_CHARS
    assert report.startswith(MARKER + "\n")
    assert report.rstrip().endswith("the results JSON and the job summary have everything.</sub>")


def test_a_crash_output_is_dropped_before_any_row_and_the_report_says_so() -> None:
    full = render_markdown(crashed_with_output())
    trimmed = render_markdown(crashed_with_output(), max_chars=len(full) - 1)
    assert "````" in full and "````" not in trimmed
    assert "the traceback and output of 1 failed model(s)" in trimmed
    assert "**head**: crashed (SIGSEGV) at models/head.py:12" in trimmed
