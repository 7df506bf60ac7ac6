"""Nothing a pull request controls reaches the posted comment active.

A payload is planted in every string of a results file: every string field
and every key the writer chooses (model, device, op names), found by walking
`RESULTS_SHAPE`, so a field added to the schema is covered without touching
this test. The two files go through the real commands, as the fork-safe
comment job runs them (`flopguard compare`, then `flopguard comment` against
the loopback GitHub API), and the body GitHub received is rendered by a real
CommonMark parser (markdown-it-py, GFM tables and GitHub's bare-URL linking)
to check what a reviewer's browser would get.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pytest_flopguard.results_shape import RESULTS_SHAPE
from pytest_flopguard.shape import Bool, Either, Int, ListOf, MapOf, Node, Num, Obj, Str
from tests.conftest import run_cli
from tests.helpers.fake_github import PR, REPO, FakeGitHub

pytest.importorskip("linkify_it", reason="the test needs markdown-it-py[linkify] (the dev extra)")
from markdown_it import MarkdownIt

TOKEN = "s3cret-token"
# An image (a tracking pixel), a person and a team to ping, the end of our
# collapsible section, a code fence, a table cell, a new line, a link, a reference.
PAYLOAD = "<img src=https://evil.test/{n}.png> @someone @acme/ml-leads </details> ``` | cell\nnew line [x](https://evil.test) #1"


@dataclass
class Planter:
    """Walks a shape and fills it: every string and every free key a numbered payload."""

    count: int = 0
    paths: list[str] = field(default_factory=list)

    def payload(self, path: str) -> str:
        self.count += 1
        self.paths.append(path)
        return PAYLOAD.format(n=self.count)

    def fill(self, node: Node, path: str) -> Any:
        if isinstance(node, Either):
            return self.fill(node.then, path)
        if isinstance(node, Obj):
            return {key: self.fill(sub, f"{path}.{key}") for key, sub in node.fields.items()}
        if isinstance(node, MapOf):
            key = self.payload(f"{path}.<key>")
            return {key: self.fill(node.value, f"{path}.*")}
        if isinstance(node, ListOf):
            return [self.fill(node.item, f"{path}[{i}]") for i in range(node.length or 1)]
        if isinstance(node, Str):
            return self.payload(path)
        return {Int: 3, Num: 2.5, Bool: False}[type(node)]


def hostile_pair() -> tuple[dict[str, Any], dict[str, Any], Planter]:
    """Head and base results, every string planted; one model failed, one measured, one removed."""
    planter = Planter()
    head = planter.fill(RESULTS_SHAPE, "")
    head["schema"] = 1
    ((name, failed),) = head["models"].items()
    measured = {**json.loads(json.dumps(failed)), "error": None}
    head["models"] = {name: failed, name + " ok": measured}
    base = json.loads(json.dumps(head))
    grown = {**measured, "metrics": {**measured["metrics"], "macs": 9, "flops": 99}}
    base["models"] = {name: measured, name + " ok": grown, name + " gone": measured}
    for model in base["models"].values():
        model["limits"] = {**model["limits"], "flops": 1}  # the pull request relaxes a limit: a table of its keys
    return head, base, planter


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHub:
    return FakeGitHub(httpserver)


def post_report(tmp_path: Path, github: FakeGitHub, head: dict[str, Any], base: dict[str, Any], expect: int) -> str:
    """`flopguard compare` then `flopguard comment`, as the comment job runs them; the body GitHub got."""
    (tmp_path / "head.json").write_text(json.dumps(head))
    (tmp_path / "base.json").write_text(json.dumps(base))
    compare = run_cli("compare", "base.json", "head.json", "--markdown", "report.md", cwd=tmp_path)
    assert compare.returncode == expect, compare.stderr
    return post_posted(tmp_path, github)


def post_posted(tmp_path: Path, github: FakeGitHub) -> str:
    """`flopguard comment --markdown report.md`; the body GitHub got."""
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": github.url}
    comment = run_cli("comment", "--markdown", "report.md", "--pr", str(PR), cwd=tmp_path, env=env)
    assert comment.returncode == 0, comment.stderr
    (posted,) = github.comments
    return str(posted["body"])


def rendered(body: str) -> str:
    """The HTML GitHub would make of it: CommonMark, GFM tables, bare URLs linked."""
    return MarkdownIt("gfm-like").render(body)


def visible_text(page: str) -> str:
    """What GitHub scans for mentions and references: text outside code, tags dropped, references decoded."""
    page = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_every_string_of_the_results_schema_is_planted() -> None:
    _, _, planter = hostile_pair()
    assert planter.count >= 40, planter.paths  # every string field and free key, found by the walk
    for where in ("models.<key>", ".metrics.latency.<key>", ".ops.<key>", ".modules[0].path", ".notes[0]",
                  ".error.message", ".error.traceback", ".output", ".variant.id", ".data_dependent"):  # fmt: skip
        assert any(where in path for path in planter.paths), where


def test_a_hostile_results_file_posts_a_comment_with_nothing_active(tmp_path: Path, github: FakeGitHub) -> None:
    head, base, _ = hostile_pair()
    body = post_report(tmp_path, github, head, base, expect=1)  # a regression and a failed model: the verdict
    assert_inert(body, tables=2)  # the figures and the relaxed budget
    # the bar chart, the planted trend's chart, and the traceback of the failed model
    assert_only_our_code_blocks(body, ["mermaid", "mermaid", "text"])


def assert_inert(body: str, tables: int) -> None:
    page = rendered(body)
    text = visible_text(page)
    assert "<img" not in page and "<a " not in page  # no pixel, no link: the report has none of its own
    assert "<code>" not in re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)  # no code span of backticks planted
    assert "evil.test" in text and "<img src=" in text  # ... yet the payload is there, shown as text
    sections = sum(1 for line in body.splitlines() if line.startswith("<details><summary>"))
    assert page.count("<details>") == page.count("</details>") == sections
    assert not re.search(r"(?<![\w@])@(?:someone|acme)", text)  # no mention of a person or a team
    assert not re.search(r"https?://|www\.|#\d", text)  # nothing GitHub would link after rendering
    assert_tables_intact(body, tables)


# --- the budget: its strings reach the comment as names, devices and error messages ------------

FACTORY = "import torch\n\n\ndef tiny(**kwargs):\n    return torch.nn.Linear(4, 4)\n"


def hostile_budget() -> dict[str, Any]:
    """One model per key of a budget entry, that key's value a payload; the models' names payloads too."""
    from pytest_flopguard.budget.entries import MODEL_KEYS

    payload = PAYLOAD.format(n="budget")
    valid = {"model": "factories:tiny", "inputs": [[1, 4]]}
    models: dict[str, Any] = {f"{payload} {key}": {**valid, key: payload} for key in MODEL_KEYS}
    models[f"{payload} measured"] = valid
    models[f"{payload} unknown key"] = {**valid, payload: 1}
    models[f"{payload} devices"] = {
        **valid,
        "limits": {"latency": {payload: "1ms"}, "latency_estimate": {payload: "1ms"}},
    }
    return {"version": 1, "models": models}


@pytest.mark.slow
def test_a_hostile_budget_posts_a_comment_with_nothing_active(tmp_path: Path, github: FakeGitHub) -> None:
    import yaml

    (tmp_path / "factories.py").write_text(FACTORY)
    (tmp_path / "flopguard.yaml").write_text(yaml.safe_dump(hostile_budget(), allow_unicode=True))
    check = run_cli("check", "--no-latency", "--markdown", "report.md", cwd=tmp_path)
    assert check.returncode == 2, check.stderr  # the budget's errors: reported per model, then exit 2
    body = post_posted(tmp_path, github)
    assert "#\u200b1 measured | macs |" in body and body.count("💥 error") >= 15
    assert_inert(body, tables=1)


def assert_tables_intact(body: str, tables: int) -> None:
    """Each payload stays whole in one cell, line or paragraph: no pipe or new line split it.

    (A parser pads short rows and drops extra cells, so the cell count alone would not tell.)
    """
    tokens = MarkdownIt("gfm-like").parse(body)
    blocks = [t.content for t in tokens if t.type in ("inline", "html_block") and "img src=" in t.content]
    assert len(blocks) >= 10
    for content in blocks:
        whole = content.count("cell new line") + content.count("cell&#92;nnew line")  # folded, or as a repr quotes it
        assert content.count("&#60;img src=https:") == whole == content.count("#\u200b1"), content
    assert sum(t.type == "table_open" for t in tokens) == tables


def assert_only_our_code_blocks(body: str, ours: list[str]) -> None:
    """The only code blocks are ours (their info strings)."""
    fences = [t.info for t in MarkdownIt("gfm-like").parse(body) if t.type in ("fence", "code_block")]
    assert sorted(fences) == ours, fences
