"""action.yml under pull_request_target: the pull request's code never runs with a write token unasked.

pull_request_target runs in the base repository's context, with a token that
can write and with its secrets. Checking out the pull request's head there runs
a fork's models (and setup code) with them. The action refuses, before
installing or importing anything, unless `allow-untrusted-code: "true"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import git
from tests.helpers.action_run import comments_of, run_action
from tests.helpers.fake_github import PR
from tests.helpers.gha import GitHubWithPulls, checkout_pull_request, pr_repository

pytestmark = pytest.mark.slow

REFUSED = "::error title=flopguard::pull_request_target with code other than the base checked out"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pr_repository(tmp_path_factory.mktemp("trust") / "models")


@pytest.fixture
def github(httpserver: HTTPServer) -> GitHubWithPulls:
    return GitHubWithPulls(httpserver)


def target_event(repo: Path, checkout: str) -> dict[str, Any]:
    """The pull_request_target event of the `widen` pull request, with `checkout` checked out
    (detached), as `actions/checkout` with `ref:` leaves it."""
    git(repo, "checkout", "-q", "--detach", checkout)
    head, base = git(repo, "rev-parse", "widen"), git(repo, "rev-parse", "main")
    return {"number": PR, "pull_request": {"number": PR, "base": {"sha": base, "ref": "main"}, "head": {"sha": head}}}


@pytest.mark.parametrize("checkout", ["head", "merge"])
def test_the_pull_requests_code_checked_out_is_refused(
    checkout: str, repo: Path, tmp_path: Path, github: GitHubWithPulls
) -> None:
    # The head itself, or refs/pull/N/merge: a merge commit that contains it.
    event = target_event(repo, "widen") if checkout == "head" else checkout_pull_request(repo, "widen")
    run = run_action(repo, tmp_path, github, event=event, event_name="pull_request_target")
    assert run.code == 2, run.job.log()
    refuse = run.step("Refuse untrusted code with a write token")
    assert REFUSED in refuse.stdout
    assert 'README: "Pull requests from forks"' in refuse.stdout and 'allow-untrusted-code: "true"' in refuse.stdout
    assert [r.name for r in run.job.results if r.ran] == ["Refuse untrusted code with a write token"]
    assert run.pip_calls() == [] and github.log == []  # nothing installed, imported or posted


def test_allow_untrusted_code_proceeds_with_a_warning(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    event = target_event(repo, "widen")
    inputs = {"allow-untrusted-code": "true", "html-report": "false"}
    run = run_action(repo, tmp_path, github, inputs, event=event, event_name="pull_request_target")
    assert run.code == 1, run.job.log()  # the regression of the widened classifier, gated as usual
    assert (
        "::warning title=flopguard::pull_request_target" in run.step("Refuse untrusted code with a write token").stdout
    )
    assert run.outputs["regressions"] == "1"
    bodies = comments_of(github)
    assert len(bodies) == 1 and "🔺 regressed" in bodies[0]


def test_the_base_checked_out_is_not_refused(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    """pull_request_target's default checkout is the base branch: the repository's own code."""
    event = target_event(repo, "main")
    run = run_action(repo, tmp_path, github, {"html-report": "false"}, event=event, event_name="pull_request_target")
    assert run.code == 0, run.job.log()
    assert run.step("Refuse untrusted code with a write token").stdout == ""


def test_other_events_skip_the_check(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    run = run_action(repo, tmp_path, github, {"html-report": "false"}, event=checkout_pull_request(repo, "docs"))
    assert run.code == 0, run.job.log()
    assert not run.step("Refuse untrusted code with a write token").ran


def test_a_commit_git_cannot_relate_to_the_head_is_refused_too(
    repo: Path, tmp_path: Path, github: GitHubWithPulls
) -> None:
    """Fail closed: a merge whose parents a shallow clone never fetched cannot be shown to hold
    the head, so anything but the base's own commit is refused (here, a side branch's)."""
    git(repo, "checkout", "-q", "--detach", "main")
    (repo / "side.txt").write_text("x")
    git(repo, "add", "side.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "side")
    side = git(repo, "rev-parse", "HEAD")
    event = target_event(repo, side)
    run = run_action(repo, tmp_path, github, event=event, event_name="pull_request_target")
    assert run.code == 2 and REFUSED in run.step("Refuse untrusted code with a write token").stdout
