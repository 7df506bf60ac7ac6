"""`flopguard comment`: post the Markdown report to the pull request, safely.

`flopguard check` writes the job summary in Actions; this command writes it
only when it cannot post: outside a pull request, or with a token that cannot
write (fork pull requests, read-only permissions), which degrades to the
summary with a notice and exit 0 — a missing comment is not a failed build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.github.api import (
    Client,
    GitHubError,
    own_login,
    target_from_env,
    upsert_comment,
)
from pytest_flopguard.github.outputs import write_github_output, write_step_summary
from pytest_flopguard.github.pr import TrustedRun, provenance
from pytest_flopguard.render.markdown import MARKER, MAX_CHARS, marker_of

Say = Callable[[str], None]


def run_comment(
    markdown_path: str,
    env: Mapping[str, str],
    say: Say,
    pr: int | None = None,
    repo: str | None = None,
    client: Client | None = None,
    trusted_run: TrustedRun | None = None,
    update_only: bool = False,
) -> int:
    """Exit code: 0 posted (or degraded to the summary), 1 GitHub failed, 2 usage.

    The comment updated is the one with the report's marker: one per budget file.
    `trusted_run` (a workflow_run comment): the footer naming the run and commit that made the figures.
    `update_only`: keep an earlier comment current, post no new one (the Action's `comment: on-change`).
    In Actions the comment's URL is the step output `comment-url` (empty when none was posted).
    """
    body = _body(markdown_path)
    target = target_from_env(env, pr, repo)
    if trusted_run is not None:
        body = _fits(body + provenance(trusted_run, target.repo, env.get("GITHUB_SERVER_URL") or "https://github.com"))
    if target.pr is None:
        write_step_summary(body, env)
        say("flopguard: not a pull request (no --pr, no pull request in GITHUB_EVENT_PATH): nothing to comment on")
        return 0
    client = client or Client(target.api_url, target.token)
    try:
        marker = marker_of(body) or MARKER
        posted = upsert_comment(client, target.repo, target.pr, body, marker, own_login(client), create=not update_only)
    except GitHubError as exc:
        if exc.read_only:
            where = (
                "the job summary" if write_step_summary(body, env) else "no summary either (GITHUB_STEP_SUMMARY unset)"
            )
            say(
                f"::notice title=flopguard::the token cannot comment on this pull request (read-only, e.g. a fork); report written to {where}"
            )
            return 0
        say(f"flopguard: error: {exc}")
        return 2 if exc.status in (401, 404) else 1
    if posted.action == "skipped":
        say("flopguard: no comment: none was posted before, and this report is not one to start with")
    else:
        say(f"flopguard: comment {posted.action}: {posted.url}")
    if env.get("GITHUB_OUTPUT"):
        write_github_output({"comment-url": posted.url}, env)
    return 0


def _body(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FlopguardError(
            "FG503",
            f"cannot read the report {path}: {exc.strerror}",
            fix="write it first with `flopguard check --markdown FILE`",
        ) from None
    if marker_of(text) is None:  # a report written by hand or another tool
        text = f"{MARKER}\n{text}"
    return _fits(text)


def _fits(text: str) -> str:
    if len(text) > MAX_CHARS:
        raise FlopguardError(
            "FG504",
            f"the report is {len(text)} characters, over GitHub's {MAX_CHARS}",
            fix="render it with `flopguard check --markdown`, which trims detail to fit",
        )
    return text
