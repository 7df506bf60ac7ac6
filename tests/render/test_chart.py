"""The Mermaid FLOPs chart of the pull request comment: well-formed, safe, trimmed first.

Two checks of the syntax: a strict structural check of the subset we emit
(always), and Mermaid's own parser and renderer in node (`tests/mermaid/`),
skipped with the reason when node or the npm packages are not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_flopguard.compare.diff import Comparison, compare
from pytest_flopguard.render import markdown
from pytest_flopguard.render.chart import MAX_MODELS, flops_chart
from pytest_flopguard.results import ModelResult, Results
from tests.render.test_render import GOLDEN, cnn
from tests.render.test_report_golden import SCENARIOS, many_models, pair

MERMAID = Path(__file__).parent.parent / "mermaid"
BLOCK = re.compile(r"```mermaid\n(.*?)```", re.S)
LABEL = r'"[A-Za-z0-9 _.:/()\[\]+=,…-]+"'
NUMBER = r"(?:0|[1-9]\d*)(?:\.\d+)?|0\.\d+"


def nasty() -> Comparison:
    """Names that would break a quoted string, the code fence, or inject a directive; and twins once shortened."""
    names = ['quote"name', "back`tick```", "%%{init: {'theme': 'dark'}}%%", "<img src=x>#35;&amp;", "x" * 80, "x" * 81]
    return pair({n: cnn(8) for n in names}, {n: cnn(9) for n in names})


def charts() -> dict[str, str]:
    """Every chart the golden reports hold, and the nasty one."""
    found = {path.name: m.group(1) for path in sorted(GOLDEN.glob("*.md")) if (m := BLOCK.search(path.read_text()))}
    chart = flops_chart(nasty())
    assert chart is not None
    found["nasty"] = BLOCK.search(chart.block + "\n").group(1)  # type: ignore[union-attr]
    return found


def check_structure(text: str) -> int:
    """The exact subset `chart.py` writes; returns the number of bar slots."""
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == 7, lines
    assert lines[0] == '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#9ca3af, #2f81f7"}}}}%%'
    assert lines[1] == "xychart-beta horizontal"
    assert re.fullmatch(r'    title "FLOPs per model: base vs head \((?:[kMGT]?FLOPs)\)"', lines[2])
    axis = re.fullmatch(rf"    x-axis \[({LABEL}(?:, {LABEL})*)\]", lines[3])
    assert axis, lines[3]
    labels = re.findall(LABEL, axis.group(1))
    assert len(labels) == len(set(labels)) and len(labels) % 2 == 0
    assert all(label.endswith((' base"', ' head"')) for label in labels)
    top = re.fullmatch(rf'    y-axis "[kMGT]?FLOPs" 0 --> ({NUMBER})', lines[4])
    assert top, lines[4]
    series = []
    for line in lines[5:7]:
        bars = re.fullmatch(rf"    bar \[((?:{NUMBER})(?:, (?:{NUMBER}))*)\]", line)
        assert bars, line
        series.append([float(v) for v in bars.group(1).split(", ")])
    base, head = series
    assert len(base) == len(head) == len(labels)
    assert all(v == 0 for v in base[1::2]) and all(v == 0 for v in head[0::2])  # paired slots
    assert max(base + head) <= float(top.group(1))
    return len(labels)


@pytest.mark.parametrize("name", sorted(charts()))
def test_chart_structure(name: str) -> None:
    assert check_structure(charts()[name]) <= 2 * MAX_MODELS


def test_golden_reports_have_a_chart_where_there_is_a_base() -> None:
    with_chart = {path.name for path in GOLDEN.glob("*.md") if BLOCK.search(path.read_text())}
    assert {f"{name}.md" for name in SCENARIOS} <= with_chart
    assert "limits_only.md" not in with_chart  # no base: nothing to compare


def test_names_cannot_escape_the_chart() -> None:
    block = flops_chart(nasty()).block  # type: ignore[union-attr]
    body = block.removeprefix("```mermaid\n").removesuffix("\n```")
    assert "```" not in body and "`" not in body
    assert body.count("%%") == 2  # our own directive only
    assert "<" not in body and "#35;" not in body and "'" not in body
    # 80 and 81 x's: both shortened to 28 characters alike, so the second is numbered.
    assert f'"{"x" * 12}…{"x" * 15} base"' in body and f'"{"x" * 11}…{"x" * 13} 2 base"' in body


def test_no_chart_without_base_or_figures() -> None:
    head = Results(models={"m": cnn(8)}, budget_models=("m",))
    assert flops_chart(compare(None, head)) is None
    broken = {"m": ModelResult(metrics={"params": 3})}
    assert flops_chart(compare(Results(models=broken), Results(models=broken))) is None


def test_many_models_chart_only_what_changed_most() -> None:
    names = [f"m{i:02d}" for i in range(40)]
    base = {n: cnn(10) for n in names}
    head = {n: cnn(10 + i) for i, n in enumerate(names)}  # m39 changed most
    chart = flops_chart(pair(base, head))
    assert chart is not None and (chart.shown, chart.total) == (MAX_MODELS, 40)
    assert '"m39 head"' in chart.block and '"m25 head"' in chart.block and '"m24 head"' not in chart.block
    unchanged = flops_chart(pair(base, base))
    assert unchanged is None  # 40 unchanged models: nothing worth a picture
    assert "the 3 of 500 models whose FLOPs changed." in markdown.render_markdown(many_models())


def test_chart_is_trimmed_before_any_table_row() -> None:
    comparison = SCENARIOS["one_regression"]()
    size = {plan: len(markdown._render(comparison, plan)) for plan in markdown._PLANS}
    no_details = markdown._Plan(details=False)
    without_chart = markdown._Plan(details=False, chart=False)
    report = markdown.render_markdown(comparison, max_chars=size[without_chart])
    assert size[without_chart] < size[no_details]
    assert "```mermaid" not in report
    assert "Trimmed to fit GitHub's comment size limit: the module breakdown of 1 model(s), the FLOPs chart." in report
    assert report.count("| classifier |") + report.count("| detector |") == 2  # every model's rows stay
    assert "```mermaid" in markdown.render_markdown(comparison, max_chars=size[no_details])


def node_modules() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the Mermaid parser check needs it (the structural check ran)")
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        pytest.skip("Mermaid is not installed: run `npm ci --prefix tests/mermaid` (the structural check ran)")
    return MERMAID / "node_modules"


def test_mermaid_parses_and_renders_every_chart() -> None:
    node_modules()
    found = charts()
    done = subprocess.run(
        ["node", str(MERMAID / "check.mjs")],
        input=json.dumps(list(found.values())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for (name, text), entry in zip(found.items(), json.loads(done.stdout), strict=True):
        assert entry["ok"] and entry["error"] is None, (name, entry["error"])
        assert entry["type"] == "xychart"
        slots = check_structure(text)
        assert entry["bars"] == [slots, slots], name  # two series, a bar in every slot


def test_mermaid_rejects_a_broken_chart() -> None:
    """The parser check can fail: an unterminated label is an error."""
    node_modules()
    broken = 'xychart-beta horizontal\n    x-axis ["a base, "a head"]\n    bar [1, 0]\n'
    done = subprocess.run(
        ["node", str(MERMAID / "check.mjs")], input=json.dumps([broken]), capture_output=True, text=True, timeout=120
    )
    assert not json.loads(done.stdout)[0]["ok"]
