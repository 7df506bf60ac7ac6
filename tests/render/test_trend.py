"""The comment's trend chart: a model's FLOPs over the recorded commits, this pull request last."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

from pytest_flopguard.render import markdown
from pytest_flopguard.render.trend_mermaid import MAX_TRENDS, trend_charts
from pytest_flopguard.results import TrendPoint
from tests.render.test_chart import BLOCK, LABEL, MERMAID, NUMBER, node_modules
from tests.render.test_render import cnn
from tests.render.test_report_golden import pair

RECORDED = (TrendPoint("v1.0", 2e9), TrendPoint('ab"c`%%{x}', 2.1e9), TrendPoint("0123456789ab", 2.2e9))


def with_trend(names: list[str], grow: set[str]):  # type: ignore[no-untyped-def]
    comparison = pair({n: cnn(8) for n in names}, {n: cnn(9 if n in grow else 8) for n in names})
    models = tuple(replace(m, head=replace(m.head, trend=RECORDED)) for m in comparison.models)  # type: ignore[arg-type]
    return replace(comparison, models=models)


def test_a_changed_model_gets_its_recorded_flops_and_this_pull_request() -> None:
    (trend,) = trend_charts(with_trend(["net", "still"], grow={"net"}))  # an unchanged model gets none
    assert trend.model == "net" and trend.points == 4
    body = BLOCK.search(trend.block + "\n").group(1)  # type: ignore[union-attr]
    lines = body.rstrip("\n").split("\n")
    assert lines[1] == "xychart-beta"
    assert lines[2] == '    title "net: FLOPs over the recorded commits (GFLOPs)"'
    labels = re.findall(LABEL, lines[3])
    assert labels == ['"v1.0"', '"ab_c____x_"', '"0123456789ab"', '"this PR"']  # a tag cannot break the chart
    values = re.fullmatch(rf"    line \[((?:{NUMBER})(?:, (?:{NUMBER}))*)\]", lines[5])
    assert values is not None
    head = float(values.group(1).split(", ")[-1])
    assert [float(v) for v in values.group(1).split(", ")[:3]] == [2, 2.1, 2.2] and head > 0


def test_the_report_holds_at_most_five_trends() -> None:
    names = [f"m{i}" for i in range(8)]
    report = markdown.render_markdown(with_trend(names, grow=set(names)))
    assert report.count("FLOPs over the recorded commits</summary>") == MAX_TRENDS


def test_mermaid_parses_the_trend_chart() -> None:
    node_modules()
    (trend,) = trend_charts(with_trend(["net"], grow={"net"}))
    text = BLOCK.search(trend.block + "\n").group(1)  # type: ignore[union-attr]
    done = subprocess.run(
        ["node", str(MERMAID / "check.mjs")], input=json.dumps([text]), capture_output=True, text=True, timeout=120
    )
    (entry,) = json.loads(done.stdout)
    assert entry["ok"] and entry["error"] is None and entry["type"] == "xychart", entry
