"""Run this repository's action.yml as a step of a job, the way tests/github/test_action.py does.

The job's workspace is a real repository (tests/helpers/gha.py `pr_repository`),
the event a payload file, the API the loopback server; the install step runs
against the `python` shim that records pip's arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO, git
from tests.helpers.gha import GitHubWithPulls, Job, StepResult, Uses, load, run_composite, runner_env

TOKEN = "s3cret-token"
ACTION = load(REPO / "action.yml")


@dataclass
class ActionRun:
    code: int
    job: Job
    outputs: dict[str, str]
    summary: Path
    pip_log: Path

    def step(self, name: str) -> StepResult:
        return next(r for r in self.job.results if r.name == name)

    def pip_calls(self) -> list[str]:
        return self.pip_log.read_text().splitlines() if self.pip_log.exists() else []


def run_action(
    repo: Path,
    tmp: Path,
    github: GitHubWithPulls,
    inputs: dict[str, str] | None = None,
    event: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    uses: dict[str, Uses] | None = None,
    event_name: str | None = None,
) -> ActionRun:
    """The action in a job of `event_name` (default: pull_request when the event has one, else push)."""
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event or {}))
    event_name = event_name or ("pull_request" if event and "pull_request" in event else "push")
    env = {**runner_env(tmp, github.url, event_name, event_path), **(extra_env or {})}
    # GITHUB_SHA: the commit checked out, except under pull_request_target, where GitHub gives
    # the base branch's last commit whatever a later step checks out.
    base_sha = ((event or {}).get("pull_request") or {}).get("base", {}).get("sha")  # type: ignore[union-attr]
    sha = base_sha if event_name == "pull_request_target" and base_sha else git(repo, "rev-parse", "HEAD")
    context = {
        "github": {
            "event_name": event_name,
            "event": event or {},
            "token": TOKEN,
            "workspace": str(repo),
            "sha": sha,
        },
        "runner": {"temp": env["RUNNER_TEMP"], "os": "Linux"},
        "env": {},
    }
    (tmp / "scratch").mkdir()
    job = Job(context=context, env=env, workdir=repo, scratch=tmp / "scratch", uses=uses or {})
    code, outputs = run_composite(ACTION, inputs or {}, job, REPO)
    return ActionRun(code, job, outputs, tmp / "summary.md", tmp / "pip.log")


def comments_of(github: GitHubWithPulls) -> list[str]:
    return [c["body"] for c in github.comments]
