"""A headless Chromium driven over the DevTools protocol, for tests of the HTML report.

Debian's `chromium` (apt), no Playwright: its browser download is not
reachable from CI. One page per `open_page`; the console errors, uncaught
exceptions and browser log errors (a CSP refusal, a failed load) of that page
are collected while it loads and while the test evaluates in it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_or_skip() -> str:
    """The browser's path; the test skips, saying how to install it, where there is none."""
    for name in NAMES:
        if found := shutil.which(name):
            return found
    pytest.skip("chromium not installed: `apt-get install -y chromium` (.ci/run does it where apt and root allow)")


class Page:
    """One tab: `evaluate` JavaScript, take a screenshot; `errors` holds what the page logged as errors."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.errors: list[str] = []
        self.seen: set[str] = set()  # events already read (one may arrive before the reply to its command)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self._ids)
        self._socket.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            self._note(message)
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while event not in self.seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout}s")
            self._note(json.loads(self._socket.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def _note(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method:
            self.seen.add(method)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append("exception: " + details.get("exception", {}).get("description", details["text"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"log ({params['entry']['source']}): {params['entry']['text']}")


@contextmanager
def open_page(url: str, width: int = 1300, height: int = 1000) -> Iterator[Page]:
    """Start Chromium, load `url` in a fresh profile, yield the page once loaded; stop Chromium after."""
    websocket = pytest.importorskip("websocket", reason="websocket-client not installed (pip install -e '.[dev]')")
    browser = chromium_or_skip()
    # Chromium's helper processes (crashpad, zygote) may still write to the profile as it goes:
    # they are in its process group, killed with it, and a last file left behind is no failure.
    with tempfile.TemporaryDirectory(prefix="flopguard-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--remote-debugging-port=0", "--remote-allow-origins=*",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            port = _port(Path(profile), process)
            socket = websocket.create_connection(_page_socket(port), timeout=30, suppress_origin=True)
            try:
                page = Page(socket)
                for domain in ("Runtime", "Log", "Page"):
                    page.send(f"{domain}.enable")
                page.seen.clear()  # only the load of `url` counts
                page.send("Page.navigate", url=url)
                page.wait_for("Page.loadEventFired")
                yield page
            finally:
                socket.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # the helpers it leaves behind


def _port(profile: Path, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """The debugging port Chromium chose, from the file it writes in its profile."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before it opened its debugging port")
        if marker.is_file() and (lines := marker.read_text().split()):
            return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError(f"chromium wrote no {marker} within {timeout}s")


def _page_socket(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
        targets = json.load(response)
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
