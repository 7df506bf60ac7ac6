"""Base results cached by what they depend on, so a rerun measures only the head.

The key is the merge-base commit (all tracked code, and the budget file), the
budget's path and the models asked for, the tool, Python and every installed
distribution, and PYTHONPATH (which copy of the code is imported). Entries
live under the repository's git common dir, never in the working tree, or in
`$FLOPGUARD_BASE_CACHE_DIR` when set: a folder CI keeps between runs (the
Action restores it with actions/cache under `actions_cache_key`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_flopguard import __version__
from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.results import Results


def cache_key(commit: str, budget: Path, models: Sequence[str] | None) -> str:
    """Everything base figures depend on: the commit (all tracked code and the
    budget), which budget and models, the tool, Python, installed packages and import path."""
    facts = {
        "commit": commit,
        "budget": budget.as_posix(),
        "models": sorted(models) if models is not None else "*",
        "tool": __version__,
        "python": platform.python_version(),
        "torch": _version_of("torch"),
        "executable": sys.executable,
        "packages": _installed_packages(),
        "pythonpath": os.environ.get("PYTHONPATH", ""),  # decides which copy of the code is imported
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _version_of(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _installed_packages() -> str:
    """A digest of every installed distribution and version (torch, and what the models import)."""
    from importlib import metadata

    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


CACHE_DIR_ENV = "FLOPGUARD_BASE_CACHE_DIR"


def cache_path(common_dir: Path, commit: str, budget: Path, models: Sequence[str] | None) -> Path:
    """Inside the git common dir (`git status` stays clean and `git clean` keeps it), or the
    folder `$FLOPGUARD_BASE_CACHE_DIR` names."""
    folder = os.environ.get(CACHE_DIR_ENV) or common_dir / "flopguard" / "cache"
    return Path(folder) / f"{cache_key(commit, budget, models)}.json"


def actions_cache_key(commit: str, budget: Path) -> str:
    """The key under which CI keeps the cache folder: the base commit, the budget file's content, the
    tool, Python and torch. The entries inside are keyed by everything (`cache_key`), so a folder
    restored for a different environment is only a miss, never wrong figures.

    >>> actions_cache_key("a" * 40, Path("pyproject.toml")).startswith("flopguard-base-" + "a" * 40 + "-budget-")
    True
    """
    digest = hashlib.sha256(budget.read_bytes()).hexdigest()[:16]
    return (
        f"flopguard-base-{commit}-budget-{digest}-v{__version__}"
        f"-py{platform.python_version()}-torch-{_version_of('torch') or 'none'}"
    )


def read(path: Path) -> Results | None:
    from pytest_flopguard.results import read_results

    if not path.is_file():
        return None
    try:
        return read_results(path)
    except FlopguardError:  # corrupt or from another schema: measure again
        return None


def write(path: Path, results: Results) -> None:
    from pytest_flopguard.results import write_results

    with contextlib.suppress(OSError):  # a read-only .git only costs the cache
        write_results(results, path)
