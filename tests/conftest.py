"""Shared test helpers: paths and a subprocess runner for the real CLI."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_repo"

# Test modules that import these at module level cannot be collected without them; in an
# environment that lacks them (not the one README and .ci/run make) they are left out,
# and the run's header says so, instead of ten collection errors.
MISSING = [name for name in ("torch", "pytest_httpserver") if importlib.util.find_spec(name) is None]


def pytest_report_header(config: pytest.Config) -> str | None:
    if not MISSING:
        return None
    return (
        f"flopguard tests: {', '.join(MISSING)} not installed: test files that import them are left out "
        "(pip install torch==2.13.0 -e '.[dev]')"
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if MISSING and collection_path.suffix == ".py" and _needs_missing(collection_path, set()):
        return True
    return None


def _needs_missing(path: Path, seen: set[Path]) -> bool:
    """Whether the module imports a missing package at module level, itself or through tests.*."""
    if path in seen or not path.is_file():
        return False
    seen.add(path)
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        for name in names:
            if name.split(".")[0] in MISSING:
                return True
            if name.startswith("tests.") and _needs_missing(REPO / (name.replace(".", "/") + ".py"), seen):
                return True
    return False


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A private copy of example_repo, safe to edit."""
    target = tmp_path / "example_repo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `flopguard` entry point as a user would (plus `env`)."""
    env = {**os.environ, "CI": "true", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pytest_flopguard.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` as a test author; its stripped stdout (fails the test on error)."""
    command = ["git", "-c", "user.name=flopguard test", "-c", "user.email=test@example.invalid", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    """Stage everything and commit; the new commit's SHA."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def edit(path: Path, *pairs: tuple[str, str]) -> None:
    """Replace each `old` (which must be there) with `new` in a file."""
    text = path.read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
