"""A loopback HTTP server that answers like GitHub's REST API for issue comments.

Served by pytest-httpserver on 127.0.0.1. It keeps comments in memory,
paginates with `Link` headers (a page size of its own, as GitHub caps
per_page), knows who the token belongs to, and can be told to fail: a queue
of canned responses served before the real ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

REPO = "octo/models"
PR = 7


@dataclass
class FakeGitHub:
    server: HTTPServer
    login: str | None = "flopguard-bot"  # None: an installation token (GET /user is 403)
    page_size: int = 30
    comments: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def add_comment(self, body: str, login: str) -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
            "html_url": f"https://github.test/c/{self.next_id}",
        }
        self.comments.append(comment)
        return comment

    def fail_next(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.failures.append((status, headers or {}, {"message": message}))

    # --- the API ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        self.log.append((request.method, request.full_path.rstrip("?")))
        if request.headers.get("Authorization") != "Bearer s3cret-token":
            return self._json(401, {"message": "Bad credentials"})
        if self.failures:
            status, headers, body = self.failures.pop(0)
            return self._json(status, body, headers)
        return self._route(request)

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/user" and method == "GET":
            if self.login is None:
                return self._json(403, {"message": "Resource not accessible by integration"})
            return self._json(200, {"login": self.login})
        if path == f"/repos/{REPO}/issues/{PR}/comments":
            return self._list(request) if method == "GET" else self._create(request)
        match = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", path)
        if match:
            return self._one(int(match.group(1)), request)
        return self._json(404, {"message": "Not Found"})

    def _list(self, request: Request) -> Response:
        page = int(request.args.get("page", 1))
        start = (page - 1) * self.page_size
        headers = {}
        if start + self.page_size < len(self.comments):
            base = self.server.url_for(request.path)
            headers["Link"] = f'<{base}?per_page=100&page={page + 1}>; rel="next"'
        return self._json(200, self.comments[start : start + self.page_size], headers)

    def _create(self, request: Request) -> Response:
        author = self.login or "github-actions[bot]"
        return self._json(201, self.add_comment(json.loads(request.data)["body"], author))

    def _one(self, comment_id: int, request: Request) -> Response:
        found = next((c for c in self.comments if c["id"] == comment_id), None)
        if found is None:
            return self._json(404, {"message": "Not Found"})
        if request.method == "DELETE":
            self.comments.remove(found)
            return Response(status=204)
        found["body"] = json.loads(request.data)["body"]
        return self._json(200, found)

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")
