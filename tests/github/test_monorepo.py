"""A monorepo: one sticky comment per budget file on a pull request.

Two packages with their own budgets, checked and commented by two runs of the
real commands in one pull request, against the loopback GitHub API: two
comments, each updated in place on the next push. A budget at the repository
root keeps the marker of earlier versions, so its existing comment is updated,
not doubled, after an upgrade.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pytest_flopguard.render.markdown import MARKER, marker_for
from pytest_flopguard.run.gate import git_info
from tests.conftest import commit_all, git, run_cli
from tests.helpers.fake_github import PR, REPO, FakeGitHub

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"
FACTORY = "import torch\n\n\ndef net(width=4):\n    return torch.nn.Linear(4, width)\n"
BUDGET = (
    "version: 1\nmodels:\n  {name}:\n    model: factories:net\n    kwargs: {{width: {width}}}\n    inputs: [[1, 4]]\n"
)
VISION = "packages/vision/flopguard.yaml"
TEXT = "packages/text/flopguard.yaml"


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHub:
    return FakeGitHub(httpserver)


def package(repo: Path, budget: str, name: str, width: int) -> None:
    folder = (repo / budget).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "factories.py").write_text(FACTORY)
    (repo / budget).write_text(BUDGET.format(name=name, width=width))


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    package(repo, VISION, "classifier", 4)
    package(repo, TEXT, "encoder", 4)
    commit_all(repo, "two packages, two budgets")
    return repo


def check_and_comment(cwd: Path, budget: str, github: FakeGitHub) -> str:
    """`flopguard check --budget B --markdown R`, then `flopguard comment --markdown R`: what comment did."""
    report = cwd / f"{Path(budget).parent.name or 'root'}-report.md"
    check = run_cli("check", "--budget", budget, "--no-latency", "--markdown", str(report), cwd=cwd)
    assert check.returncode == 0, check.stderr
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": github.url}
    comment = run_cli("comment", "--markdown", str(report), "--pr", str(PR), cwd=cwd, env=env)
    assert comment.returncode == 0, comment.stderr
    return comment.stdout.split("flopguard: comment ")[1].split(":")[0]


def test_two_budgets_in_one_pull_request_keep_two_comments_each_updated_in_place(
    monorepo: Path, github: FakeGitHub
) -> None:
    # The Action with working-directory: packages/text runs there with the default budget name.
    runs = [(monorepo, VISION), (monorepo / "packages" / "text", "flopguard.yaml")]
    assert [check_and_comment(cwd, budget, github) for cwd, budget in runs] == ["created", "created"]
    first = {c["id"]: c["body"].splitlines()[0] for c in github.comments}
    assert sorted(first.values()) == sorted([marker_for(VISION), marker_for(TEXT)])

    package(monorepo, VISION, "classifier", 8)  # the next push widens the vision model only
    commit_all(monorepo, "wider classifier")
    # Both change: the new head commit is in each report's revisions line.
    assert [check_and_comment(cwd, budget, github) for cwd, budget in runs] == ["updated", "updated"]
    assert {c["id"]: c["body"].splitlines()[0] for c in github.comments} == first  # the same two comments
    vision = next(c["body"] for c in github.comments if c["body"].startswith(marker_for(VISION)))
    assert "| classifier | macs | 32 |" in vision and "encoder" not in vision
    assert [m for m, _ in github.log if m in ("POST", "PATCH", "DELETE")] == ["POST", "POST", "PATCH", "PATCH"]


def test_a_root_budget_updates_the_comment_of_earlier_versions(tmp_path: Path, github: FakeGitHub) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    package(repo, "flopguard.yaml", "classifier", 4)
    commit_all(repo, "one budget at the root")
    earlier = github.add_comment(f"{MARKER}\nthe report of an earlier version", "flopguard-bot")
    assert check_and_comment(repo, "flopguard.yaml", github) == "updated"
    assert [c["id"] for c in github.comments] == [earlier["id"]]
    assert github.comments[0]["body"].startswith(MARKER + "\n## ✅ flopguard passed")


def test_git_facts_name_the_budget_by_its_path_in_the_repository(monorepo: Path) -> None:
    assert git_info(monorepo / VISION)["budget"] == VISION
    assert git_info(monorepo / "flopguard.yaml")["budget"] == "flopguard.yaml"
    outside = monorepo.parent / "elsewhere"
    outside.mkdir()
    assert git_info(outside / "flopguard.yaml") == {}  # not a repository: no git facts


@pytest.mark.parametrize(
    ("budget", "marker"),
    [
        (None, MARKER),
        ("flopguard.yaml", MARKER),
        ("ci/budget.yaml", "<!-- pytest-flopguard:report budget=ci/budget.yaml -->"),
        ("a b/-->x<y>.yaml", "<!-- pytest-flopguard:report budget=a%20b/--%3Ex%3Cy%3E.yaml -->"),
    ],
)
def test_marker_of_a_budget_cannot_end_the_html_comment(budget: str | None, marker: str) -> None:
    assert marker_for(budget) == marker
