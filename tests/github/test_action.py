"""action.yml, executed step by step the way the runner does (tests/helpers/gha.py).

A real git repository made from example_repo with a pull-request history
(`main`, a branch, and the detached merge commit actions/checkout makes),
the event payload file, `$GITHUB_OUTPUT` per step, `$GITHUB_STEP_SUMMARY`,
and the loopback GitHub API. The install step runs against a `python` shim
that records what pip would be asked to do, so the test never reinstalls the
package it is testing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pytest_flopguard.render.markdown import MARKER
from tests.conftest import REPO
from tests.helpers.action_run import ACTION, comments_of, run_action
from tests.helpers.gha import GitHubWithPulls, Job, checkout_pull_request, pr_repository

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pr_repository(tmp_path_factory.mktemp("action") / "models")


@pytest.fixture
def github(httpserver: HTTPServer) -> GitHubWithPulls:
    return GitHubWithPulls(httpserver)


@pytest.fixture
def torch_version() -> Iterator[str]:
    out = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True,
        text=True,
    )
    yield out.stdout.strip()


# --- Must show 2 --------------------------------------------------------------------------


def test_regression_pr_fails_comments_once_and_writes_outputs(
    repo: Path, tmp_path: Path, github: GitHubWithPulls, torch_version: str
) -> None:
    event = checkout_pull_request(repo, "widen")
    run = run_action(repo, tmp_path, github, event=event)
    assert run.code == 1, run.job.log()

    check = run.step("Measure and compare")
    assert check.outputs["regressions"] == "1"
    assert check.outputs["exit-code"] == "1"
    assert "classifier: largest module changes: stage2 " in check.stdout
    assert run.outputs["regressions"] == "1"
    results = json.loads(Path(run.outputs["results"]).read_text())
    assert set(results["models"]) == {"classifier", "detector", "tiny_gpt"}
    assert (
        json.loads(Path(run.outputs["base-results"]).read_text())["git"]["ref"] == event["pull_request"]["base"]["sha"]
    )  # type: ignore[index]
    assert Path(run.outputs["report"]).read_text().startswith(MARKER)

    summary = run.summary.read_text()
    assert "flopguard FAILED: 1 regressed, 2 ok" in summary and "stage2" in summary

    bodies = comments_of(github)
    assert len(bodies) == 1 and bodies[0].startswith(MARKER) and "🔺 regressed" in bodies[0]
    assert run.step("Verdict").stdout.strip() == "flopguard: 1 model(s) fail the gate"
    # The HTML report: an artifact, linked from the comment.
    page = (tmp_path / "scratch" / "artifacts" / "flopguard-report" / "index.html").read_text()
    assert "stage2" in page and 'data-status="grown"' in page
    assert bodies[0].rstrip().endswith("go](https://github.com/octo/models/actions/runs/1/artifacts/7)")

    # The install step installs the action itself, from its own folder, and pins torch where it is.
    assert run.pip_calls() == ["install", "--disable-pip-version-check", str(REPO), f"torch=={torch_version}"]


def test_clean_pr_passes_and_updates_the_same_comment(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    github.add_comment(f"{MARKER}\nan earlier run", "flopguard-bot")
    run = run_action(repo, tmp_path, github, event=checkout_pull_request(repo, "docs"))
    assert run.code == 0, run.job.log()
    assert run.outputs["regressions"] == "0"
    assert "flopguard passed: 3 ok" in run.summary.read_text()
    bodies = comments_of(github)
    assert len(bodies) == 1 and "✅ flopguard passed" in bodies[0]


# --- the inputs ---------------------------------------------------------------------------


def test_fail_on_regression_false_and_no_comment(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    inputs = {"fail-on-regression": "false", "comment": "false"}
    run = run_action(repo, tmp_path, github, inputs, event=checkout_pull_request(repo, "widen"))
    assert run.code == 0, run.job.log()
    assert run.outputs["regressions"] == "1"
    assert not run.step("Comment on the pull request").ran
    assert github.log == []
    assert "::warning title=flopguard::1 model(s) fail the gate" in run.step("Verdict").stdout


def test_a_budget_error_fails_even_when_regressions_may_pass(
    repo: Path, tmp_path: Path, github: GitHubWithPulls
) -> None:
    inputs = {"budget": "missing.yaml", "fail-on-regression": "false"}
    run = run_action(repo, tmp_path, github, inputs, event=checkout_pull_request(repo, "docs"))
    assert run.code == 2, run.job.log()
    assert "[FG100]" in run.step("Measure and compare").stderr
    assert not run.step("Comment on the pull request").ran  # no report to post
    assert github.log == []


def test_read_only_token_degrades_to_the_summary(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    github.read_only = True  # a fork's pull_request token
    run = run_action(repo, tmp_path, github, event=checkout_pull_request(repo, "docs"))
    assert run.code == 0, run.job.log()
    assert "the token cannot comment" in run.step("Comment on the pull request").stdout
    assert github.comments == []


def test_without_torch_the_install_step_says_what_to_do(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    blocker = tmp_path / "no-torch"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    run = run_action(
        repo, tmp_path, github, event=checkout_pull_request(repo, "docs"), extra_env={"PYTHONPATH": str(blocker)}
    )
    assert run.code == 2
    install = run.step("Install pytest-flopguard")
    assert "::error title=flopguard::torch is not importable" in install.stdout
    assert run.pip_calls() == []  # nothing installed, torch least of all
    assert not run.step("Measure and compare").ran


def test_torch_input_installs_the_cpu_build_first_and_caches_the_downloads(
    repo: Path, tmp_path: Path, github: GitHubWithPulls, torch_version: str
) -> None:
    """The install step as the runner runs it, with `torch` and `requirements`: torch from PyTorch's
    CPU index first (never PyPI's CUDA build), then the requirements, then the action; pip's downloads
    in the folder the cache step restores, under a key that names the torch and the index."""
    cached: list[dict[str, str]] = []

    def cache(step: object, given: dict[str, str], job: Job) -> dict[str, str]:
        if "pip" in given["path"]:  # not the base results' cache
            cached.append(given)
        return {"cache-hit": "false"}

    inputs = {"torch": "2.13.0", "requirements": "requirements.txt"}
    run = run_action(repo, tmp_path, github, inputs, checkout_pull_request(repo, "docs"), uses={"actions/cache": cache})
    assert run.code == 0, run.job.log()
    index = "https://download.pytorch.org/whl/cpu"
    assert cached == [{"path": "~/.cache/flopguard-pip", "key": f"flopguard-pip-Linux-torch-2.13.0-{index}"}]
    home = Path(run.job.env.get("HOME", str(Path.home())))
    at = f"PIP_CACHE_DIR={home}/.cache/flopguard-pip"
    assert run.pip_calls() == [
        at, "install", "--disable-pip-version-check", "--index-url", index, "torch==2.13.0",
        at, "install", "--disable-pip-version-check", "-r", "requirements.txt",
        at, "install", "--disable-pip-version-check", str(REPO), f"torch=={torch_version}",
    ]  # fmt: skip


def test_a_gpu_runner_names_its_index_and_no_cache_means_no_cache(
    repo: Path, tmp_path: Path, github: GitHubWithPulls, torch_version: str
) -> None:
    inputs = {"torch": "2.13.0", "torch-index-url": "https://download.pytorch.org/whl/cu126", "cache": "false"}
    run = run_action(repo, tmp_path, github, inputs, checkout_pull_request(repo, "docs"))  # no cache stand-in: not used
    assert run.code == 0, run.job.log()
    assert run.pip_calls()[:5] == [
        "install", "--disable-pip-version-check", "--index-url", "https://download.pytorch.org/whl/cu126", "torch==2.13.0"
    ]  # fmt: skip
    assert not any(call.startswith("PIP_CACHE_DIR=") for call in run.pip_calls())


def test_every_input_reaches_the_shell_through_env() -> None:
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step["name"]
    install = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "install")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    setup = next(s for s in ACTION["runs"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["if"] == "inputs.python-version != ''"
    assert setup["uses"].split("@")[1].isalnum() and len(setup["uses"].split("@")[1]) == 40


def test_record_on_a_push_adds_the_commit_to_the_history(tmp_path: Path, github: GitHubWithPulls) -> None:
    from pytest_flopguard.gitbase.history import read

    repo = pr_repository(tmp_path / "own" / "models")  # its history branch must not reach the other tests

    push = {"repository": {"default_branch": "main"}}
    (tmp_path / "feature").mkdir()
    (tmp_path / "main").mkdir()
    feature = run_action(
        repo, tmp_path / "feature", github, {"record": "true", "html-report": "false"}, push,
        extra_env={"GITHUB_REF": "refs/heads/widen"},
    )  # fmt: skip
    assert feature.code == 0, feature.job.log()
    assert "not recorded: refs/heads/widen is not the default branch (main)" in feature.step("Record in the history").stdout
    assert read(repo, "flopguard.yaml").entries == []
    run = run_action(
        repo, tmp_path / "main", github, {"record": "true", "html-report": "false"}, push,
        extra_env={"GITHUB_REF": "refs/heads/main"},
    )  # fmt: skip
    assert run.code == 0, run.job.log()
    assert "flopguard: recorded 3 models of " in run.step("Record in the history").stdout
    (entry,) = read(repo, "flopguard.yaml").entries
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert entry.commit == head and set(entry.figures) == {"classifier", "detector", "tiny_gpt"}
    assert (
        entry.figures["classifier"]["flops"]
        == json.loads(Path(run.outputs["results"]).read_text())["models"]["classifier"]["metrics"]["flops"]
    )
    assert not (tmp_path / "main" / "scratch" / "artifacts").exists()  # html-report off: nothing uploaded
