"""`flopguard report --html` end to end: real measurements, opened in headless Chromium.

The base and head results come from the real CLI on a copy of example_repo
whose head widens one stage of the classifier (as `flopguard demo` does) and
adds a module whose name is HTML: the page must load with no console error,
name every model, mark the grown stage, keep the hostile name as text, and
switch views with its radio buttons. Skips, saying why, without Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import edit, run_cli
from tests.helpers.chromium import chromium_or_skip, open_page

HOSTILE = "<img src=x onerror=alert(1)>"
HEAD_MACS = 'svg[data-side="head"][data-metric="macs"]'


def _measure_pair(repo: Path) -> None:
    """base.json as example_repo is; head.json with stage2 widened and a hostile module added."""
    assert run_cli("measure", "--json", "base.json", cwd=repo).returncode == 0
    edit(
        repo / "models" / "vision.py",
        ("self.stage2 = BasicBlock(width, 2 * width, 2)", "self.stage2 = BasicBlock(width, 3 * width, 2)"),
        ("self.stage3 = BasicBlock(2 * width, 4 * width, 2)", "self.stage3 = BasicBlock(3 * width, 4 * width, 2)"),
        (
            "self.head = nn.Linear(4 * width, num_classes)",
            f"self.head = nn.Linear(4 * width, num_classes)\n        self.add_module({HOSTILE!r}, nn.Linear(4 * width, 4 * width))",
        ),
        (
            "return self.head(torch.flatten(self.pool(x), 1))",
            f"x = torch.flatten(self.pool(x), 1)\n        return self.head(getattr(self, {HOSTILE!r})(x))",
        ),
    )
    proc = run_cli("measure", "--json", "head.json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    modules = [m["path"] for m in json.loads((repo / "head.json").read_text())["models"]["classifier"]["modules"]]
    assert HOSTILE in modules


@pytest.mark.slow
def test_report_opens_in_chromium_with_the_grown_stage_marked(example_copy: Path, tmp_path: Path) -> None:
    chromium_or_skip()  # before the measuring: no browser, nothing to check
    _measure_pair(example_copy)
    proc = run_cli("report", "base.json", "head.json", "--html", "out", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    page_file = example_copy / "out" / "index.html"
    assert f"HTML report written to out/index.html ({page_file.stat().st_size} bytes)" in proc.stderr + proc.stdout
    assert "<img" not in page_file.read_text(encoding="utf-8")

    with open_page(page_file.as_uri()) as page:
        names = page.evaluate("[...document.querySelectorAll('.model-name')].map(e => e.textContent)")
        grown = page.evaluate(f"document.querySelector('{HEAD_MACS} g[data-path=\"stage2\"]').dataset.status")
        fill = page.evaluate(f"getComputedStyle(document.querySelector('{HEAD_MACS} g[data-path=\"stage2\"] rect')).fill")
        untouched = page.evaluate(f"document.querySelector('{HEAD_MACS} g[data-path=\"stage1\"]').dataset.status")
        listed = page.evaluate("[...document.querySelectorAll('tr.grown td.path')].map(e => e.textContent)")
        hostile = page.evaluate("[...document.querySelectorAll('td.path')].map(e => e.textContent)")
        images = page.evaluate("document.images.length")
        before = page.evaluate("getComputedStyle(document.querySelector('.view-params')).display")
        page.evaluate("document.getElementById('show-params').click()")
        after = page.evaluate("getComputedStyle(document.querySelector('.view-params')).display")
        shot = page.screenshot(tmp_path / "report.png")
        errors = page.errors

    assert errors == []
    assert names == ["classifier", "detector", "tiny_gpt"]
    assert (grown, untouched) == ("grown", "")
    assert fill == "rgb(213, 94, 0)"  # the highlight is drawn, not only marked
    assert listed[:2] == ["stage2", "stage2.conv2"]  # the largest MAC growth first
    assert HOSTILE in hostile and images == 0
    assert (before, after) == ("none", "block")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@pytest.mark.slow
def test_the_browser_check_sees_console_errors_and_blocked_scripts(tmp_path: Path) -> None:
    """The check above can fail: a page that logs an error, and one whose script our CSP refuses."""
    csp = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    loud = tmp_path / "loud.html"
    loud.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); missing();</script>")
    blocked = tmp_path / "blocked.html"
    blocked.write_text(f"<!DOCTYPE html><head>{csp}</head><p>x</p><script>console.log('ran')</script>")
    with open_page(loud.as_uri()) as page:
        assert page.errors[0] == "console: boom" and "missing is not defined" in page.errors[1]
    with open_page(blocked.as_uri()) as page:
        assert len(page.errors) == 1 and "violates the following Content Security Policy" in page.errors[0]
