"""Which pull request a `workflow_run` comment belongs to, from trusted data only.

The fork-safe comment job runs on `workflow_run`: the artifact it reads was
made by the pull request's code, so the pull request number and head commit
come from the event (`github.event.workflow_run.pull_requests[0].number`,
`.head_sha`), never from the artifact. For a pull request from a fork GitHub
leaves `pull_requests` empty; then the open pull request whose head is that
commit is looked up through the API. Either way the pull request's head must
still be that commit: after a newer push the newer run comments, and an older
run finishing late must not overwrite it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.github.api import Client

Say = Callable[[str], None]


def check_sha(sha: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise FlopguardError(
            "FG520",
            f"--head-sha {sha!r} is not a full commit SHA",
            fix="pass ${{ github.event.workflow_run.head_sha }} through env:",
        )
    return sha


def pr_for_head(client: Client, repo: str, head_sha: str, pr: int | None, say: Say) -> int | None:
    """The pull request to comment on, or None (with a notice) when there is none to update."""
    head_sha = check_sha(head_sha)
    if pr is not None:
        current = client.request("GET", f"/repos/{repo}/pulls/{pr}").data or {}
        if (current.get("head") or {}).get("sha") == head_sha:
            return pr
        say(f"flopguard: pull request #{pr} has moved past {head_sha[:12]}; its newer run comments instead")
        return None
    for candidate in client.paginate(f"/repos/{repo}/pulls?state=open&per_page=100"):
        if (candidate.get("head") or {}).get("sha") == head_sha and isinstance(candidate.get("number"), int):
            return int(candidate["number"])
    say(f"flopguard: no open pull request has head {head_sha[:12]} (closed, or pushed again): nothing to comment on")
    return None


@dataclass(frozen=True)
class TrustedRun:
    """The measuring run as the `workflow_run` event names it: trusted, unlike its artifact."""

    head_sha: str
    run_id: int | None = None


def provenance(run: TrustedRun, repo: str, server_url: str) -> str:
    """The comment's footer: which run and commit made the figures, and that the pull request's
    own code made them (base included), so a reader weighs "passed" or "budget relaxed" as such.

    >>> provenance(TrustedRun("a" * 40, 42), "octo/models", "https://github.com").splitlines()[2][:39]
    '🔏 **Figures from the pull request’s own'
    """
    sha = check_sha(run.head_sha)
    where = f"run [{run.run_id}]({server_url.rstrip('/')}/{repo}/actions/runs/{run.run_id})" if run.run_id else "run"
    return (
        "\n---\n"
        f"🔏 **Figures from the pull request’s own workflow {where}** at commit `{sha}` "
        "(run and commit from the `workflow_run` event, not from the run’s artifact). That run executed "
        "the pull request’s code, the base measurement included, so every figure and verdict above is what "
        "that code reported; this workflow only checked the data and rendered it.\n"
    )
