"""Post the report as one sticky pull request comment through the REST API.

The earlier comment is found by the hidden marker *and* the token's own
identity, so a look-alike planted by someone else is never overwritten, and
duplicates of ours (a race between two runs) are removed: posting twice never
leaves two. Rate limits (429, secondary limits) are retried honouring
`Retry-After` / `x-ratelimit-reset` within a bound, server errors a bounded
number of times; a 403 "Resource not accessible by integration" (fork pull
requests, read-only tokens) is not retried — the caller degrades to the job
summary. The token never appears in any message.

Standard library only (urllib): one small client is simpler to audit than a
dependency.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_flopguard import __version__
from pytest_flopguard.errors import FlopguardError

DEFAULT_API = "https://api.github.com"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(FlopguardError):
    """An API call failed; `status` is the HTTP status (0: no response)."""

    def __init__(self, status: int, message: str, fix: str | None = None) -> None:
        super().__init__("FG500" if status == 0 else "FG510", message, fix=fix)
        self.status = status

    @property
    def read_only(self) -> bool:
        """The token may read but not write here (fork PRs, restricted tokens)."""
        return self.status == 403 and "not accessible by integration" in self.message.lower()


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any


class Client:
    """A minimal GitHub REST client with bounded retries."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
        retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._sleep = sleep
        self.max_wait = max_wait
        self.retries = retries
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Response:
        url = path if path.startswith(("http://", "https://")) else f"{self.api_url}{path}"
        for attempt in range(self.retries + 1):
            response = self._send(method, url, body)
            wait = self._retry_after(response, attempt)
            if wait is None:
                break
            self._sleep(wait)
        if response.status >= 400:
            raise _error(response, method, self._redact(url))
        return response

    def paginate(self, path: str) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"`."""
        url: str | None = path
        while url:
            response = self.request("GET", url)
            yield from response.data
            match = _NEXT.search(response.headers.get("link", ""))
            url = match.group(1) if match else None
            if url is not None and not url.startswith(self.api_url + "/"):
                # The token goes with every request: never to another host.
                raise GitHubError(0, f"a pagination link leaves {self.api_url}: {self._redact(url)}")

    def _send(self, method: str, url: str, body: Any) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers(data is not None))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as raw:
                return Response(raw.status, _lower(raw.headers), _json(raw.read()))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, _lower(exc.headers), _json(exc.read()))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(
                0,
                f"cannot reach {self._redact(self.api_url)}: {self._redact(str(reason))}",
                fix="check GITHUB_API_URL and the network",
            ) from None

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self._token}",
            "User-Agent": f"pytest-flopguard/{__version__}",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _retry_after(self, response: Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the answer is final."""
        if attempt >= self.retries:
            return None
        if _rate_limited(response):
            wait = _rate_limit_wait(response.headers)
            return wait if wait <= self.max_wait else None
        if response.status >= 500:
            return min(2.0**attempt, self.max_wait)
        return None

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers else {}


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _rate_limited(response: Response) -> bool:
    if response.status == 429:
        return True
    message = _message(response).lower()
    exhausted = response.headers.get("x-ratelimit-remaining") == "0"
    return response.status == 403 and ("rate limit" in message or exhausted)


def _rate_limit_wait(headers: Mapping[str, str]) -> float:
    if "retry-after" in headers:
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            pass
    if "x-ratelimit-reset" in headers:
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
        except ValueError:
            pass
    return 60.0  # GitHub's advice for secondary limits without a header


def _message(response: Response) -> str:
    data = response.data
    return str(data.get("message", "")) if isinstance(data, dict) else ""


_FIXES = {
    401: "the token is missing, expired or wrong: pass github-token / GITHUB_TOKEN",
    403: "give the job `permissions: pull-requests: write` (fork pull requests get a read-only token: comment from a workflow_run job)",
    404: "check GITHUB_REPOSITORY / --repo and the pull request number (--pr); a token without access to the repository also gets 404",
    422: "GitHub refused the comment body; it may be over 65,536 characters",
    429: "GitHub's rate limit held after the bounded retries; rerun the job later",
}


def _error(response: Response, method: str, url: str) -> GitHubError:
    status = response.status
    text = _message(response) or "no message"
    fix = _FIXES.get(status) or ("GitHub is failing; rerun the job later" if status >= 500 else None)
    if status == 403 and _rate_limited(response):
        fix = _FIXES[429]
    return GitHubError(status, f"GitHub API {method} {url}: {status} {text}", fix=fix)


# --- the sticky comment ---------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    action: str  # "created", "updated", "unchanged"
    url: str
    removed_duplicates: int = 0


def own_login(client: Client) -> str | None:
    """Whose comments are ours: the token's user, or None for "a bot" (an installation token).

    `GET /user` works for personal tokens. Installation tokens (the Actions
    `GITHUB_TOKEN`, GitHub App tokens) cannot read it — 403 "Resource not
    accessible by integration" — and post as some `<app>[bot]`, so any bot's
    comment with our marker is ours; a person's look-alike never is. Other
    failures (5xx, network) are raised: guessing would duplicate comments.
    """
    try:
        return str(client.request("GET", "/user").data["login"])
    except GitHubError as exc:
        if exc.read_only:
            return None
        raise
    except (KeyError, TypeError):
        return None


def _is_ours(comment: Mapping[str, Any], marker: str, author: str | None) -> bool:
    """Our comment for this marker: on its first line (another budget's marker is another comment)."""
    user = comment.get("user") or {}
    if str(comment.get("body", "")).split("\n", 1)[0].strip() != marker:
        return False
    return user.get("login") == author if author is not None else user.get("type") == "Bot"


def upsert_comment(
    client: Client, repo: str, pr: int, body: str, marker: str, author: str | None, create: bool = True
) -> Posted:
    """Create the comment, or update ours in place; remove stale duplicates of ours.
    `create=False`: update ours if there is one, create none ("skipped")."""
    ours = [
        c for c in client.paginate(f"/repos/{repo}/issues/{pr}/comments?per_page=100") if _is_ours(c, marker, author)
    ]
    if not ours and not create:
        return Posted("skipped", "")
    if not ours:
        created = client.request("POST", f"/repos/{repo}/issues/{pr}/comments", {"body": body}).data
        return Posted("created", str(created.get("html_url", "")))
    keep, *extra = ours
    for duplicate in extra:
        client.request("DELETE", f"/repos/{repo}/issues/comments/{duplicate['id']}")
    if keep.get("body") == body:
        return Posted("unchanged", str(keep.get("html_url", "")), len(extra))
    updated = client.request("PATCH", f"/repos/{repo}/issues/comments/{keep['id']}", {"body": body}).data
    return Posted("updated", str(updated.get("html_url", "")), len(extra))


# --- where we are ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    api_url: str
    repo: str
    pr: int | None
    token: str


def target_from_env(env: Mapping[str, str], pr: int | None = None, repo: str | None = None) -> Target:
    """Repository, pull request and token from arguments or the Actions environment."""
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or ""
    repo = repo or env.get("GITHUB_REPOSITORY")
    if not repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise FlopguardError(
            "FG501", f"no valid repository ({repo!r})", fix="pass --repo OWNER/NAME or set GITHUB_REPOSITORY"
        )
    if not token:
        raise FlopguardError(
            "FG502", "no GitHub token", fix="set GITHUB_TOKEN (in Actions: `env: GITHUB_TOKEN: ${{ github.token }}`)"
        )
    return Target(env.get("GITHUB_API_URL") or DEFAULT_API, repo, pr or _pr_from_event(env), token)


def _pr_from_event(env: Mapping[str, str]) -> int | None:
    """The pull request number of a pull_request / pull_request_target / issue_comment event."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, ValueError):
        return None
    for key in ("pull_request", "issue"):
        number = (event.get(key) or {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    return None
