"""`flopguard status`: the commit status "flopguard", apart from the job's own result.

Branch protection can then require "flopguard" by name, as with Bencher,
CodSpeed or Lighthouse CI, whatever the job is called and even when a
workflow lets the job pass (`fail-on-regression: false`). Needs
`statuses: write`; a token without it degrades to a notice, as the comment does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.github.api import Client, GitHubError, target_from_env
from pytest_flopguard.github.pr import check_sha

STATES = ("success", "failure", "error", "pending")
CONTEXT = "flopguard"


def run_status(
    sha: str,
    state: str,
    description: str,
    env: Mapping[str, str],
    say: Callable[[str], None],
    client: Client | None = None,
) -> int:
    """Exit code: 0 set (or no permission: a notice), 1 GitHub failed, 2 usage."""
    if state not in STATES:
        raise FlopguardError(
            "FG530", f"--state {state!r} is not a commit status state", fix=f"one of: {', '.join(STATES)}"
        )
    target = target_from_env(env)
    client = client or Client(target.api_url, target.token)
    body = {"state": state, "context": CONTEXT, "description": description[:140]}  # GitHub's cap
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_RUN_ID"):
        body["target_url"] = f"{env['GITHUB_SERVER_URL']}/{target.repo}/actions/runs/{env['GITHUB_RUN_ID']}"
    try:
        client.request("POST", f"/repos/{target.repo}/statuses/{check_sha(sha)}", body)
    except GitHubError as exc:
        if exc.read_only:
            say("::notice title=flopguard::the token cannot set commit statuses (needs `statuses: write`)")
            return 0
        say(f"flopguard: error: {exc}")
        return 2 if exc.status in (401, 404) else 1
    say(f"flopguard: commit status {CONTEXT} = {state} on {sha[:12]}: {description}")
    return 0
