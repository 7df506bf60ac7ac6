"""The HTML report's layout and escaping, without a browser (tests/render/test_html_browser.py opens it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_flopguard.compare.diff import compare
from pytest_flopguard.measure.types import ModuleStats
from pytest_flopguard.render.html import model_view, render_html
from pytest_flopguard.render.icicle import WIDTH, module_tree, sizes, statuses
from pytest_flopguard.render.trend_svg import trend_chart
from pytest_flopguard.results import ModelResult, Results, write_results
from tests.conftest import run_cli
from tests.render.test_render import base_results, cnn, head_results

HOSTILE = "<img src=x onerror=alert(1)>"


def stats(path: str, macs: int, params: int = 0, kind: str = "Conv2d") -> ModuleStats:
    return ModuleStats(path, kind, 1, params, macs, 2 * macs, 0, 4 * macs)


def one(name: str, result: ModelResult) -> Results:
    return Results(models={name: result}, budget_models=(name,))


def test_a_container_never_called_and_a_tied_weight_still_hold_their_children() -> None:
    # blocks (a ModuleList) reports 0 MACs, its two blocks 30 each; embed and lm_head share
    # one 100-parameter weight, so the model's 150 params are less than its children's 200.
    modules = [
        stats("", 100, 150, "Net"),
        stats("embed", 0, 100),
        stats("blocks", 0, 50, "ModuleList"),
        stats("blocks.0", 30, 25),
        stats("blocks.1", 30, 25),
        stats("lm_head", 40, 100),
    ]
    tree = module_tree(modules, "net", ["macs", "params"])
    assert tree is not None
    assert sizes(tree, "macs") == {"": 100, "embed": 0, "blocks": 60, "blocks.0": 30, "blocks.1": 30, "lm_head": 40}
    assert sizes(tree, "params")[""] == 250  # 100 + 50 + 100: each module's cell holds its tied weight


def test_the_caption_gives_the_measured_total_and_says_when_tied_weights_draw_more() -> None:
    modules = (stats("", 100, 150, "Net"), stats("embed", 0, 100), stats("lm_head", 100, 100))
    head = ModelResult(metrics={"macs": 100, "params": 150}, modules=modules)
    captions = {v.metric: v.sides[0].caption for v in model_view(0, compare(None, one("m", head)).models[0]).views}
    assert captions["macs"] == "head: 100 MACs"
    assert captions["params"] == (
        "head: 150 params (the cells add up to 200 params: a shared weight is drawn in each module)"
    )


def test_a_module_whose_parent_is_not_listed_hangs_from_the_nearest_listed_one() -> None:
    tree = module_tree([stats("", 10), stats("a.b.c", 10)], "net", ["macs"])
    assert tree is not None and [c.path for c in tree.children] == ["a.b.c"]


def test_base_and_head_share_one_scale_and_children_tile_inside_their_parent() -> None:
    view = model_view(0, compare(one("m", cnn(8)), one("m", cnn(16))).models[0])
    macs = view.views[0]
    assert macs.metric == "macs" and [s.name for s in macs.sides] == ["base", "head"]
    base, head = ({c.path: c for c in side.cells} for side in macs.sides)
    assert head[""].w == WIDTH and base[""].w == pytest.approx(WIDTH / 4, abs=0.01)  # 64,000 vs 256,000 MACs
    # stem (100 MACs: 0.23 units, too thin to draw) then stage2.conv from where stem ends
    assert "stem" not in head and head["stage2.conv"].x == pytest.approx(WIDTH * 100 / 256_000, abs=0.01)
    assert head["stage2.conv"].status == "grown" and base["stage2.conv"].status == "grown"
    assert head[""].y == 0 and head["stage2.conv"].y == 22


def test_a_model_whose_modules_did_not_move_is_drawn_once() -> None:
    view = model_view(0, compare(one("m", cnn(8)), one("m", cnn(8))).models[0])
    assert [(s.name, s.caption) for s in view.views[0].sides] == [("head", "base = head: 64K MACs")]
    assert view.changes == ()


def test_the_changed_modules_are_listed_largest_macs_move_first() -> None:
    view = model_view(0, compare(one("m", cnn(8)), one("m", cnn(16))).models[0])
    assert [(c.path, c.status) for c in view.changes] == [("stage2.conv", "grown")]
    assert view.changes[0].macs == "63.9K → 256K (+192K)"  # 8*8*1000 - 100 -> 16*16*1000 - 100


@pytest.mark.parametrize(
    ("base", "head", "expected"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": "grown"}),
        ({"a": 2}, {"a": 1}, {"a": "shrunk"}),
        ({}, {"a": 1}, {"a": "new"}),
        ({"a": 1}, {}, {"a": "removed"}),
        (None, {"a": 1}, {}),  # no base: nothing to compare with
    ],
)
def test_statuses(base: dict[str, int] | None, head: dict[str, int], expected: dict[str, str]) -> None:
    assert statuses(base, head) == expected


def test_hostile_model_and_module_names_stay_text() -> None:
    evil = ModelResult(metrics=cnn(8).metrics, modules=(*cnn(8).modules, stats(HOSTILE, 10)))
    name = "</title><script>alert(1)</script>"
    page = render_html(compare(one(name, cnn(8)), one(name, evil)))
    assert "<img" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="model-0"' in page  # the anchor is ours, not the name


def test_failed_new_and_removed_models_get_what_they_have() -> None:
    views = {m.name: model_view(i, m) for i, m in enumerate(compare(base_results(), head_results()).models)}
    assert views["broken"].error == "ValueError at models/x.py:3: no such width" and views["broken"].views == ()
    assert [s.caption for s in views["old_model"].views[0].sides] == ["base: 64K MACs"]  # removed: its base
    assert views["new_model"].verdict == "new" and views["new_model"].views == ()  # no modules in its results
    assert [s.caption for s in views["classifier"].views[0].sides] == ["base: 1.02M MACs", "head: 2.3M MACs"]


def test_without_a_base_only_the_head_is_drawn() -> None:
    page = render_html(compare(None, one("solo", cnn(8))))
    assert 'data-side="head"' in page and 'data-side="base"' not in page
    assert "<th>base</th>" not in page and 'class="changes"' not in page


def test_a_trend_series_is_drawn_with_this_change_last() -> None:
    # 100 -> 150 on a 90-high chart with 12 of padding: y = 90 - 12 - (v - 100) / 50 * 66
    chart = trend_chart([("v1.0", 100.0), ("<b>a1b2</b>", 125.0), ("this PR", 150.0)], "count")
    assert chart is not None
    assert chart.line == "8.0,78.0 180.0,45.0 352.0,12.0"
    series = {"m": [("v1.0", 1.0e9), ("<b>a1b2</b>", 1.1e9), ("this PR", 1.25e9)]}
    page = render_html(compare(one("m", cnn(8)), one("m", cnn(9))), trends=series)
    assert 'points="8.0,78.0 180.0,51.6 352.0,12.0"' in page  # 1.1G: 78 - 0.1 / 0.25 * 66 = 51.6
    assert "&lt;b&gt;a1b2&lt;/b&gt;: 1.1G" in page and "<b>" not in page
    assert re.search(r'class="current"><title>this PR: 1\.25G</title>', page)
    assert "flops over the last 3 recorded commits" in page


def test_no_trend_without_a_series_or_finite_values() -> None:
    assert trend_chart([], "count") is None
    assert trend_chart([("a", float("nan"))], "count") is None
    assert 'class="trend"' not in render_html(compare(None, one("m", cnn(8))))


def test_report_command_writes_one_page_and_names_a_missing_file(tmp_path: Path) -> None:
    write_results(one("m", cnn(8)), tmp_path / "base.json")
    write_results(one("m", cnn(9)), tmp_path / "head.json")
    proc = run_cli("report", "base.json", "head.json", "--html", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["index.html"]
    proc = run_cli("report", "nope.json", "--html", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert "results file nope.json not found [FG200]" in proc.stderr
    proc = run_cli("report", "base.json", "head.json", "head.json", "--html", "out", cwd=tmp_path)
    assert proc.returncode == 2 and "[FG640]" in proc.stderr


def test_the_recorded_trend_of_the_head_results_is_drawn_by_default() -> None:
    from dataclasses import replace

    from pytest_flopguard.render.html import recorded_trends, render_html
    from pytest_flopguard.results import TrendPoint
    from tests.render.test_render import cnn
    from tests.render.test_report_golden import pair

    comparison = pair({"net": cnn(8)}, {"net": cnn(9)})
    head = replace(comparison.models[0].head, trend=(TrendPoint("v1.0", 1e6), TrendPoint("abc", 2e6)))
    comparison = replace(comparison, models=(replace(comparison.models[0], head=head),))
    series = recorded_trends(comparison)["net"]
    assert [label for label, _ in series] == ["v1.0", "abc", "this change"]
    assert series[-1][1] == head.metrics["flops"]
    page = render_html(comparison)
    assert "v1.0" in page and page == render_html(comparison, trends=recorded_trends(comparison))
