"""Results files from an untrusted job, checked as data before anything reads them.

The fork-safe comment workflow downloads an artifact that a pull request's
code produced. Before it is rendered, `validate_artifact` checks that the
folder it was unpacked into holds exactly the expected files, as regular
files (no symlinks that point out of the folder, no subfolders, no extra
entries), each under a size cap, each a results file of our schema. It never
follows a link and never reads a file it did not expect.

    >>> validate_artifact(Path("artifact"), ["head.json", "base.json"], max_bytes=5_000_000)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_flopguard.errors import FlopguardError, ResultsError
from pytest_flopguard.results import Results
from pytest_flopguard.results_json import from_json

DEFAULT_MAX_BYTES = 10_000_000  # results of a few hundred models with their module tables


@dataclass(frozen=True)
class Checked:
    name: str
    size: int
    results: Results


def validate_artifact(root: Path, names: Sequence[str], max_bytes: int = DEFAULT_MAX_BYTES) -> list[Checked]:
    """Each expected file of the folder `root`, read and validated; FG61x otherwise."""
    if not root.is_dir() or root.is_symlink():
        raise _error("FG610", f"{root} is not a folder", "download the artifact into a fresh folder")
    wanted = [_plain_name(name) for name in names]
    _refuse_unexpected(root, wanted)
    return [_check_file(root, name, max_bytes) for name in wanted]


def _plain_name(name: str) -> str:
    """A file name directly in the folder: no separators, no `..`."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise _error("FG611", f"{name!r} is not a plain file name", "name the files inside the folder, e.g. head.json")
    return name


def _refuse_unexpected(root: Path, wanted: Sequence[str]) -> None:
    extra = sorted(entry.name for entry in os.scandir(root) if entry.name not in wanted)
    if extra:
        raise _error(
            "FG612",
            f"the artifact holds unexpected entries: {', '.join(map(repr, extra[:10]))}",
            "upload only the results files; an artifact with anything else is not read",
        )


def _check_file(root: Path, name: str, max_bytes: int) -> Checked:
    path = root / name
    try:
        info = path.lstat()  # never follow a link
    except FileNotFoundError:
        raise _error("FG613", f"{name} is missing from the artifact", "did the measuring job upload it?") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise _error("FG614", f"{name} is {kind}", "upload the results files themselves")
    if info.st_size > max_bytes:
        raise _error("FG615", f"{name} is {info.st_size} bytes, over the cap of {max_bytes}", "raise --max-bytes")
    return Checked(name, info.st_size, _parse(path, name, max_bytes))


def _parse(path: Path, name: str, max_bytes: int) -> Results:
    # O_NOFOLLOW: the file cannot be swapped for a link between lstat and open.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _error("FG615", f"{name} grew past the cap of {max_bytes} bytes", "raise --max-bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultsError("FG201", f"{name} is not valid JSON ({type(exc).__name__})", fix="regenerate it") from None
    return from_json(data, name)


def _error(code: str, message: str, fix: str) -> FlopguardError:
    return FlopguardError(code, message, fix=fix)
