"""The sticky pull request comment against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pytest_flopguard.github.api import Client, GitHubError
from pytest_flopguard.github.comment import run_comment
from pytest_flopguard.render.markdown import MARKER
from tests.helpers.fake_github import PR, REPO, FakeGitHub

TOKEN = "s3cret-token"


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHub:
    return FakeGitHub(httpserver)


@pytest.fixture
def env(tmp_path: Path, github: FakeGitHub) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": PR}}))
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def report(tmp_path: Path, text: str) -> str:
    path = tmp_path / "report.md"
    path.write_text(f"{MARKER}\n{text}\n")
    return str(path)


class Said(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def post(tmp_path: Path, env: dict[str, str], text: str, sleeps: list[float] | None = None) -> tuple[int, Said]:
    said = Said()
    client = Client(env["GITHUB_API_URL"], TOKEN, sleep=(sleeps.append if sleeps is not None else lambda s: None))
    code = run_comment(report(tmp_path, text), env, said, client=client)
    assert all(TOKEN not in line for line in said)
    return code, said


def test_first_run_creates_second_updates_in_place(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    assert post(tmp_path, env, "first")[0] == 0
    assert post(tmp_path, env, "second")[0] == 0
    assert [c["body"] for c in github.comments] == [f"{MARKER}\nsecond\n"]
    assert [m for m, _ in github.log if m in ("POST", "PATCH")] == ["POST", "PATCH"]
    code, said = post(tmp_path, env, "second")
    assert (code, said[-1]) == (0, "flopguard: comment unchanged: https://github.test/c/1001")
    assert len(github.comments) == 1


def test_earlier_comment_on_page_3_of_150_is_found(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    for i in range(150 * github.page_size):
        if i == 2 * github.page_size + 5:  # page 3
            github.add_comment(f"{MARKER}\nold report", "flopguard-bot")
        else:
            github.add_comment(f"chatter {i}", "someone")
    assert post(tmp_path, env, "new report")[0] == 0
    pages = [p for m, p in github.log if m == "GET" and "/comments" in p]
    assert len(pages) == 150  # every page read, for stale duplicates too
    ours = [c for c in github.comments if MARKER in c["body"]]
    assert len(ours) == 1 and ours[0]["body"].endswith("new report\n")
    assert ("POST", f"/repos/{REPO}/issues/{PR}/comments") not in github.log


def test_marker_planted_by_someone_else_is_left_alone(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    planted = github.add_comment(f"{MARKER}\nlook-alike", "mallory")
    assert post(tmp_path, env, "real report")[0] == 0
    assert planted["body"] == f"{MARKER}\nlook-alike"
    assert [c["user"]["login"] for c in github.comments] == ["mallory", "flopguard-bot"]


def test_duplicates_of_ours_are_removed(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    github.add_comment(f"{MARKER}\nrun 1", "flopguard-bot")
    github.add_comment(f"{MARKER}\nrun 2 (a race)", "flopguard-bot")
    assert post(tmp_path, env, "run 3")[0] == 0
    assert [c["body"] for c in github.comments] == [f"{MARKER}\nrun 3\n"]


def test_installation_token_posts_as_the_actions_bot(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    github.login = None  # GET /user is 403 for the Actions GITHUB_TOKEN
    github.add_comment(f"{MARKER}\nearlier", "github-actions[bot]")
    assert post(tmp_path, env, "later")[0] == 0
    assert [c["body"] for c in github.comments] == [f"{MARKER}\nlater\n"]


def test_429_is_retried_after_the_delay_it_asks_for(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    github.fail_next(429, "API rate limit exceeded", {"Retry-After": "3"})
    sleeps: list[float] = []
    assert post(tmp_path, env, "report", sleeps)[0] == 0
    assert sleeps == [3.0]
    assert len(github.comments) == 1


def test_secondary_rate_limit_403_is_retried_with_reset(
    tmp_path: Path, env: dict[str, str], github: FakeGitHub
) -> None:
    github.fail_next(403, "You have exceeded a secondary rate limit", {"Retry-After": "1"})
    sleeps: list[float] = []
    assert post(tmp_path, env, "report", sleeps)[0] == 0
    assert sleeps == [1.0]


def test_rate_limit_past_the_bound_gives_up(github: FakeGitHub) -> None:
    github.fail_next(429, "API rate limit exceeded", {"Retry-After": "3600"})
    client = Client(github.url, TOKEN, sleep=lambda s: pytest.fail("must not wait an hour"))
    with pytest.raises(GitHubError) as info:
        client.request("GET", "/user")
    assert info.value.status == 429
    assert "rerun the job later" in str(info.value)


def test_server_errors_are_retried_a_bounded_number_of_times(github: FakeGitHub) -> None:
    for _ in range(10):
        github.fail_next(502, "Bad Gateway")
    sleeps: list[float] = []
    client = Client(github.url, TOKEN, sleep=sleeps.append, retries=3)
    with pytest.raises(GitHubError) as info:
        client.request("GET", "/user")
    assert (info.value.status, sleeps) == (502, [1.0, 2.0, 4.0])


def test_read_only_token_writes_the_summary_and_exits_0(
    tmp_path: Path, env: dict[str, str], github: FakeGitHub
) -> None:
    github.fail_next(403, "Resource not accessible by integration")  # GET /user
    github.fail_next(403, "Resource not accessible by integration")  # POST
    code, said = post(tmp_path, env, "from a fork")
    assert code == 0
    assert said == [
        "::notice title=flopguard::the token cannot comment on this pull request (read-only, e.g. a fork); report written to the job summary"
    ]
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text() == f"{MARKER}\nfrom a fork\n"
    assert github.comments == []


@pytest.mark.parametrize(
    ("status", "message", "code", "fix"),
    [
        (401, "Bad credentials", 2, "the token is missing, expired or wrong"),
        (404, "Not Found", 2, "check GITHUB_REPOSITORY / --repo and the pull request number"),
        (422, "Validation Failed", 1, "GitHub refused the comment body"),
        (500, "Internal Server Error", 1, "GitHub is failing; rerun the job later"),
    ],
)
def test_errors_have_clear_messages(
    tmp_path: Path, env: dict[str, str], github: FakeGitHub, status: int, message: str, code: int, fix: str
) -> None:
    github.login = "flopguard-bot"
    for _ in range(5 if status >= 500 else 1):
        github.fail_next(status, message)
    github.failures.insert(0, (200, {}, {"login": "flopguard-bot"}))  # GET /user succeeds first
    result, said = post(tmp_path, env, "report")
    assert result == code
    assert said[-1].startswith(
        f"flopguard: error: GitHub API GET {github.url}/repos/{REPO}/issues/{PR}/comments?per_page=100: {status} {message} [FG510]"
    )
    assert f"fix: {fix}" in said[-1]


def test_not_a_pull_request_only_writes_the_summary(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps({"push": {}}))
    code, said = post(tmp_path, env, "on main")
    assert code == 0 and "nothing to comment on" in said[0]
    assert github.log == []


def test_unreachable_api_is_a_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    client = Client("http://127.0.0.1:9", TOKEN, retries=0, timeout=2)
    with pytest.raises(GitHubError) as info:
        client.request("GET", "/user")
    assert info.value.status == 0
    assert "cannot reach http://127.0.0.1:9" in info.value.message
    assert TOKEN not in str(info.value)


def test_comment_command_end_to_end(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    """The real `flopguard comment` process against the loopback API, twice: one comment."""
    from tests.conftest import run_cli

    path = report(tmp_path, "from the CLI")
    for action in ("created", "unchanged"):
        proc = run_cli("comment", "--markdown", path, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"flopguard: comment {action}: https://github.test/c/1001" in proc.stdout
        assert TOKEN not in proc.stdout + proc.stderr
    assert len(github.comments) == 1


def test_app_token_finds_its_comment_by_marker_and_bot_author(
    tmp_path: Path, env: dict[str, str], github: FakeGitHub
) -> None:
    """An App installation token cannot read /user and posts as <app>[bot]: any bot's marker comment is ours."""
    github.login = None
    github.add_comment(f"{MARKER}\nplanted", "mallory")  # a person's look-alike: never ours
    github.add_comment(f"{MARKER}\nearlier", "my-ci-app[bot]")
    assert post(tmp_path, env, "later")[0] == 0
    assert [c["body"] for c in github.comments] == [f"{MARKER}\nplanted", f"{MARKER}\nlater\n"]


def test_a_server_error_on_user_is_not_guessed_around(tmp_path: Path, env: dict[str, str], github: FakeGitHub) -> None:
    for _ in range(5):
        github.fail_next(502, "Bad Gateway")
    code, said = post(tmp_path, env, "report")
    assert code == 1
    assert "GET" in said[-1] and "/user: 502 Bad Gateway" in said[-1]
    assert github.comments == []


def test_pagination_never_sends_the_token_to_another_host(github: FakeGitHub) -> None:
    from werkzeug import Response

    github.server.clear()
    github.server.expect_request("/repos/octo/models/issues/7/comments").respond_with_response(
        Response(
            "[]", headers={"Link": '<http://evil.example/steal?page=2>; rel="next"'}, content_type="application/json"
        )
    )
    client = Client(github.url, TOKEN)
    with pytest.raises(GitHubError, match="a pagination link leaves"):
        list(client.paginate("/repos/octo/models/issues/7/comments"))
