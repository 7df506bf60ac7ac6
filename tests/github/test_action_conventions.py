"""What users of CI gates expect of the action: when to comment, a commit status, outputs, and a label
that acknowledges a regression. action.yml run step by step (tests/helpers/gha.py) on a real
repository, against the loopback GitHub API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pytest_flopguard.render.markdown import MARKER
from tests.helpers.action_run import ActionRun, comments_of, run_action
from tests.helpers.gha import GitHubWithPulls, checkout_pull_request, pr_repository

pytestmark = pytest.mark.slow

QUICK = {"html-report": "false", "base-cache": "false"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pr_repository(tmp_path_factory.mktemp("conventions") / "models")


@pytest.fixture
def github(httpserver: HTTPServer) -> GitHubWithPulls:
    return GitHubWithPulls(httpserver)


def run_on(
    repo: Path, tmp: Path, github: GitHubWithPulls, branch: str, labels: tuple[str, ...] = (), **inputs: str
) -> ActionRun:
    event: dict[str, Any] = checkout_pull_request(repo, branch)
    event["pull_request"]["labels"] = [{"name": name} for name in labels]
    tmp.mkdir(parents=True, exist_ok=True)
    return run_action(repo, tmp, github, {**QUICK, **inputs}, event)


def test_on_change_waits_for_a_change_then_keeps_the_comment_current(
    repo: Path, tmp_path: Path, github: GitHubWithPulls
) -> None:
    quiet = run_on(repo, tmp_path / "1", github, "docs", comment="on-change")
    assert quiet.code == 0, quiet.job.log()
    assert github.comments == [] and quiet.outputs["comment-url"] == ""
    assert "flopguard: no comment" in quiet.step("Comment on the pull request").stdout

    grown = run_on(repo, tmp_path / "2", github, "widen", comment="on-change", **{"fail-on-regression": "false"})
    (body,) = comments_of(github)
    assert "🔺 regressed" in body and grown.outputs["comment-url"] == github.comments[0]["html_url"]

    fixed = run_on(repo, tmp_path / "3", github, "docs", comment="on-change")  # unchanged again: update, never a second
    (body,) = comments_of(github)
    assert "✅ flopguard passed" in body
    assert "comment updated" in fixed.step("Comment on the pull request").stdout


def test_on_failure_and_the_old_true_false(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    run = run_on(repo, tmp_path / "1", github, "docs", comment="on-failure")
    assert run.code == 0 and github.comments == []
    run = run_on(repo, tmp_path / "2", github, "docs", comment="true")
    assert run.code == 0 and len(github.comments) == 1
    run = run_on(repo, tmp_path / "3", github, "widen", comment="never")
    assert run.code == 1 and not run.step("Comment on the pull request").ran
    assert "✅ flopguard passed" in comments_of(github)[0]


def test_an_unknown_comment_mode_names_the_choices(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    run = run_on(repo, tmp_path, github, "docs", comment="sometimes")
    assert run.code == 2
    assert 'comment: "sometimes" is not one of always, on-change, on-failure, never' in run.job.log()


@pytest.mark.parametrize(("branch", "state", "passed"), [("widen", "failure", "false"), ("docs", "success", "true")])
def test_commit_status_and_passed_output(
    branch: str, state: str, passed: str, repo: Path, tmp_path: Path, github: GitHubWithPulls
) -> None:
    run = run_on(repo, tmp_path, github, branch, status="true", comment="never")
    assert run.code == (1 if branch == "widen" else 0), run.job.log()
    head = run.job.context["github"]["event"]["pull_request"]["head"]["sha"]
    (status,) = github.statuses
    assert (status["sha"], status["state"], status["context"]) == (head, state, "flopguard")
    assert run.outputs["passed"] == passed


def test_status_without_permission_is_a_notice(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    github.read_only = True
    run = run_on(repo, tmp_path, github, "docs", status="true", comment="never")
    assert run.code == 0, run.job.log()
    assert "the token cannot set commit statuses" in run.step("Commit status").stdout


def test_the_label_accepts_a_regression_and_the_comment_says_so(
    repo: Path, tmp_path: Path, github: GitHubWithPulls
) -> None:
    run = run_on(repo, tmp_path, github, "widen", labels=("bug", "flopguard: accepted"), status="true")
    assert run.code == 0, run.job.log()
    assert run.outputs["passed"] == "true" and run.outputs["regressions"] == "1"
    (body,) = comments_of(github)
    first, second = body.splitlines()[:2]
    assert first == MARKER
    assert second.startswith("> ✅ **Accepted**: 1 model(s) fail the gate below") and "`flopguard: accepted`" in second
    assert "🔺 regressed" in body  # the figures are still shown
    assert github.statuses[0]["state"] == "success"
    assert 'accepted with the label "flopguard: accepted"' in run.step("Verdict").stdout


def test_another_label_accepts_nothing(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    run = run_on(repo, tmp_path, github, "widen", labels=("flopguard: accepted",), **{"accept-label": "perf-ok"})
    assert run.code == 1 and run.outputs["passed"] == "false"
    assert "Accepted" not in comments_of(github)[0]


def test_cc_mentions_on_a_regression_only(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    cc = {"cc": "octocat, @acme/ml-leads", "fail-on-regression": "false"}
    run_on(repo, tmp_path / "1", github, "widen", **cc)
    assert comments_of(github)[0].rstrip().endswith("cc @octocat @acme/ml-leads")
    run_on(repo, tmp_path / "2", github, "docs", **cc)
    assert "cc @" not in comments_of(github)[0]  # updated: passing now, nobody called


def test_a_cc_that_is_no_login_is_refused(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    run = run_on(repo, tmp_path, github, "widen", cc="octocat <img src=x>")
    assert run.code == 2 and github.comments == []
    assert '::error title=flopguard::cc: "<img" is not a GitHub user or team' in run.job.log()
