"""Reports: golden Markdown files, the terminal table, failure messages, escaping.

Regenerate the golden files after an intended change with
`FLOPGUARD_UPDATE_GOLDEN=1 pytest tests/render/test_render.py` and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_flopguard.compare.diff import compare
from pytest_flopguard.measure.types import ModuleStats
from pytest_flopguard.render.failure import failure_message
from pytest_flopguard.render.inert import inert
from pytest_flopguard.render.markdown import MARKER, render_markdown
from pytest_flopguard.render.terminal import render_table
from pytest_flopguard.results import ErrorInfo, ModelResult, Results

GOLDEN = Path(__file__).parent.parent / "golden"


def module(path: str, macs: int, params: int) -> ModuleStats:
    return ModuleStats(path, "Conv2d" if path else "Net", 1, params, macs, 2 * macs, 0, 4 * macs)


def cnn(width: int, limits: dict[str, float] | None = None) -> ModelResult:
    macs = 1000 * width * width
    return ModelResult(
        metrics={"macs": macs, "flops": 2 * macs, "params": 10 * width, "memory_access": 4 * macs},
        modules=(
            module("", macs, 10 * width),
            module("stem", 100, 10),
            module("stage2.conv", macs - 100, 10 * width - 10),
        ),
        limits=limits or {"flops": 10_000_000},
        limit_lines={"flops": 7},
    )


def base_results() -> Results:
    steady = replace(cnn(16, {"flops": 10_000_000, "params": 1000}), tolerance={"memory_access": 0.005})
    return Results(
        models={"classifier": cnn(32), "old_model": cnn(8), "steady": steady},
        budget_models=("classifier", "old_model", "steady"),
        git={"commit": "1a2b3c4d5e6f7a8b9c0d" * 2, "ref": "main", "dirty": False},
    )


def head_results() -> Results:
    broken = ModelResult(error=ErrorInfo("ValueError", "no such width", where="models/x.py:3"))
    custom = ModelResult(metrics=cnn(4).metrics, uncounted_ops={"mylib.fancy_op.default": 3})
    # The change loosens `steady`'s budget: flops limit raised, params limit dropped, tolerance raised.
    steady = replace(cnn(16, {"flops": 20_000_000}), tolerance={"memory_access": 0.05})
    return Results(
        models={"classifier": cnn(48, {"flops": 4_000_000}), "steady": steady, "new_model": custom, "broken": broken},
        budget_models=("classifier", "steady", "new_model", "broken"),
        git={"commit": "9f8e7d6c5b4a39281706" * 2, "ref": "feature", "dirty": True},
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FLOPGUARD_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_markdown_regression_golden() -> None:
    check_golden("regression.md", render_markdown(compare(base_results(), head_results())))


def test_markdown_limits_only_golden() -> None:
    check_golden(
        "limits_only.md", render_markdown(compare(None, Results(models={"steady": cnn(16)}, budget_models=("steady",))))
    )


def test_markdown_is_stable_and_marked() -> None:
    first = render_markdown(compare(base_results(), head_results()))
    assert first == render_markdown(compare(base_results(), head_results()))
    assert first.splitlines()[0] == MARKER


def test_terminal_table() -> None:
    lines = render_table(compare(base_results(), head_results()))
    assert lines[:6] == [
        "flopguard FAILED: 1 error, 1 over-limit, 1 new, 1 removed, 1 ok (head has uncommitted changes)",
        "  base main 1a2b3c4d5e6f → head feature 9f8e7d6c5b4a (uncommitted changes)",
        "⚠️  BUDGET RELAXED by this change (3): review before merging",
        "  ⚠️  steady: flops limit 10M → 20M",
        "  ⚠️  steady: params limit 1K → none",
        "  ⚠️  steady: memory_access tolerance 0.5% → 5%",
    ]
    assert lines[6].split() == ["model", "metric", "base", "head", "delta", "limit", "verdict"]
    steady_flops = next(line for line in lines if " flops " in line and "512K" in line)
    assert steady_flops.split() == ["flops", "512K", "512K", "0", "20M", "(2.56%)", "⚠️", "was", "10M", "ok"]
    flops = next(line for line in lines if " flops " in line and "4.61M" in line)
    assert flops.split() == ["flops", "2.05M", "4.61M", "+2.56M", "(+125%)", "4M", "(115%)", "over-limit"]
    assert "  broken: ValueError at models/x.py:3: no such width" in lines
    assert "  new_model: uncounted ops (no FLOP formula, not in the totals): mylib.fancy_op.default x3" in lines


def test_failure_message_names_each_failing_metric() -> None:
    comparison = compare(base_results(), head_results())
    classifier = next(m for m in comparison.models if m.name == "classifier")
    assert failure_message(classifier, "flopguard.yaml").splitlines() == [
        "classifier: 4 metric(s) failed",
        "  macs regressed: 1.02M -> 2.3M, +1.28M (+125%), tolerance 0%",
        "  flops 4.61M is over its limit 4M (115% of it) (flopguard.yaml:7)",
        "  params regressed: 320 -> 480, +160 (+50%), tolerance 0%",
        "  memory_access regressed: 4.1MB -> 9.22MB, +5.12MB (+125%), tolerance 0%",
    ]


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("a|b", "a&#124;b"),
        ("<img src=x onerror=alert(1)>", "&#60;img src=x onerror=alert(1)&#62;"),
        ("`code`", "&#96;code&#96;"),
        ("@octocat @acme/ml-leads", "@\u200boctocat @\u200bacme/ml-leads"),
        ("line\nbreak\r\n\u2028end", "line break end"),
        ("**bold** [link](http://x) www.x.io #12", "&#42;&#42;bold&#42;&#42; &#91;link&#93;(http:\u200b//x) www\u200b.x.io #\u200b12"),
        ("memory_access __init__ _x", "memory_access &#95;&#95;init&#95;&#95; &#95;x"),
        ("&lt; $x$ ~~s~~ \\", "&#38;lt; &#36;x&#36; &#126;&#126;s&#126;&#126; &#92;"),
    ],
)
def test_inert(hostile: str, expected: str) -> None:
    assert inert(hostile) == expected


def test_hostile_model_name_cannot_break_the_table() -> None:
    name = "evil|<b>x</b>\n@team"
    report = render_markdown(compare(None, Results(models={name: cnn(2)}, budget_models=(name,))))
    rows = [line for line in report.splitlines() if line.startswith("| evil")]
    assert rows == [rows[0]]
    assert rows[0].startswith("| evil&#124;&#60;b&#62;x&#60;/b&#62; @\u200bteam | macs |")
    assert "<b>" not in report and "\n@team" not in report


def test_terminal_colours_only_the_verdicts_when_asked() -> None:
    comparison = compare(base_results(), head_results())
    plain = render_table(comparison)
    coloured = render_table(comparison, color=True)
    assert all("\x1b" not in line for line in plain)
    assert [
        line.replace("\x1b[32m", "")
        .replace("\x1b[1;31m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[0m", "")
        for line in coloured
    ] == plain
    assert any(line.endswith("\x1b[1;31mover-limit\x1b[0m") for line in coloured)


def test_a_real_run_and_a_data_dependent_count_are_said_in_both_reports() -> None:
    note = (
        "hybrid execution failed (WeightValueNeeded: the model reads a value computed from its weights "
        "(aten.nonzero) at torchvision/ops/boxes.py:151 (keep = torch.where(keep)[0]) <b>@team</b>); "
        "counted a real CPU run with random weights (seed 0)"
    )
    detector = replace(cnn(8), execution="real", notes=(note,), data_dependent="aten.nonzero at torchvision/ops/boxes.py:151")
    head = Results(models={"detector": detector}, budget_models=("detector",))
    comparison = compare(None, head)
    assert f"  detector: {note}" in render_table(comparison)
    markdown = render_markdown(comparison)
    assert "Counting: hybrid execution failed" in markdown
    assert "(aten.nonzero) at torchvision/ops/boxes.py:151" in markdown
    assert "<b>@team" not in markdown  # the note holds the model's own source line: escaped like every name
