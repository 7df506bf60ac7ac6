"""The base's results kept between runs by actions/cache: the second push measures only the head.

Two runs of action.yml, each in a fresh clone (a new runner: no `.git`
cache, a new RUNNER_TEMP), on the same pull request. actions/cache is played
by folders: restore at the step, save after the job as its post step does,
only on a miss. The second run restores the first run's base results and
does not measure the base again.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import git
from tests.helpers.action_run import run_action
from tests.helpers.gha import GitHubWithPulls, Job, checkout_pull_request, pr_repository

pytestmark = pytest.mark.slow


class LocalCache:
    """actions/cache on local folders."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.keys: list[str] = []
        self.to_save: list[tuple[str, Path]] = []

    def __call__(self, step: Mapping[str, Any], given: Mapping[str, str], job: Job) -> dict[str, str]:
        key, path = given["key"], Path(given["path"])
        self.keys.append(key)
        if (self.store / key).is_dir():
            shutil.copytree(self.store / key, path, dirs_exist_ok=True)
            return {"cache-hit": "true"}
        self.to_save.append((key, path))
        return {"cache-hit": "false"}

    def post(self) -> None:
        """The post step at the end of the job: save what was missed, if the folder exists."""
        for key, path in self.to_save:
            if path.is_dir():
                shutil.copytree(path, self.store / key)
        self.to_save.clear()


@pytest.fixture
def github(httpserver: HTTPServer) -> GitHubWithPulls:
    return GitHubWithPulls(httpserver)


def fresh_clone(origin: Path, where: Path) -> Path:
    """What actions/checkout gives a new runner: the same commits, a new .git."""
    git(where.parent, "clone", "-q", str(origin), where.name)
    git(where, "branch", "-q", "widen", "origin/widen")  # the clone has `docs`, origin's current branch
    git(where, "branch", "-q", "-f", "main", "origin/main")
    return where


def test_second_run_restores_the_base_results_and_does_not_measure_the_base(
    tmp_path: Path, github: GitHubWithPulls
) -> None:
    origin = pr_repository(tmp_path / "origin")
    cache = LocalCache(tmp_path / "cache-store")
    inputs = {"html-report": "false", "comment": "false"}
    runs = []
    for n in (1, 2):
        repo = fresh_clone(origin, tmp_path / f"checkout{n}")
        event = checkout_pull_request(repo, "widen")
        (tmp_path / f"runner{n}").mkdir()
        run = run_action(repo, tmp_path / f"runner{n}", github, inputs, event, uses={"actions/cache": cache})
        cache.post()
        assert run.code == 1 and run.outputs["regressions"] == "1", run.job.log()
        assert not (repo / ".git" / "flopguard").exists(), "the cache folder is the runner's, not .git"
        runs.append(run)

    base = git(origin, "rev-parse", "main")
    first, second = (r.step("Measure and compare").stdout + r.step("Measure and compare").stderr for r in runs)
    key_line = runs[0].step("Base results cache key").stdout
    assert f"flopguard: base results cache key: flopguard-base-{base}-budget-" in key_line
    assert cache.keys[0] == cache.keys[1] and cache.keys[0].startswith(f"flopguard-base-{base}-")
    assert "flopguard: measuring the base" in first and "base results from cache" not in first
    assert "flopguard: base results cache restored (actions/cache)" in second
    assert f"flopguard: base results from cache ({base[:12]})" in second
    assert "measuring the base" not in second


def test_base_cache_off_uses_no_cache_step(tmp_path: Path, github: GitHubWithPulls) -> None:
    repo = pr_repository(tmp_path / "models")
    inputs = {"html-report": "false", "comment": "false", "base-cache": "false"}
    run = run_action(repo, tmp_path, github, inputs, checkout_pull_request(repo, "docs"))
    assert run.code == 0, run.job.log()
    assert not run.step("Base results cache key").ran and not run.step("Restore the base results").ran
    assert (repo / ".git" / "flopguard" / "cache").is_dir()  # the tool's own cache, as outside CI


def test_no_base_no_key(tmp_path: Path, github: GitHubWithPulls) -> None:
    """A push without base-ref diffs against nothing: nothing to cache, no cache step."""
    repo = pr_repository(tmp_path / "models")
    run = run_action(repo, tmp_path, github, {"html-report": "false"})
    assert run.code == 0, run.job.log()
    assert run.step("Base results cache key").stdout == "" and not run.step("Restore the base results").ran
