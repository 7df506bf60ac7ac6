"""The process that measures the base: its command line, import path, and its end.

It runs `flopguard measure` from this installation of the tool (so both sides
count with the same code) in the base checkout, with import paths that point
into the head checkout redirected to the base's copy. It runs in its own
process group, which is killed when we are interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pytest_flopguard.errors import FlopguardError

# The child imports pytest_flopguard from *this* installation, even if the
# checkout being measured contains a package of that name, then restores the
# path so the models' imports resolve as in any other process.
_BOOTSTRAP = (
    "import sys; p = sys.path[:]; sys.path.insert(0, {root!r}); import pytest_flopguard.cli as c; "
    "sys.path[:] = p; sys.exit(c.main())"
)


def command(tree: Path, budget: Path, output: Path, names: Sequence[str], head: Path) -> list[str]:
    """`flopguard measure` of `names` in the base checkout `tree`, guarded against head imports."""
    tool_root = str(Path(__file__).resolve().parents[2])
    argv = [sys.executable, "-c", _BOOTSTRAP.format(root=tool_root), "measure", "--budget", str(budget)]
    argv += ["--json", str(output), "--require-under", str(tree), "--head-checkout", str(head)]
    for name in names:
        argv += ["--model", name]
    return argv


def environment(head: Path, tree: Path) -> dict[str, str]:
    """Import paths that point into the head checkout (PYTHONPATH, an editable
    install's `.pth` entry) point to the same folders of the base checkout, first."""
    mapped: list[str] = []
    for entry in sys.path:
        with contextlib.suppress(ValueError, OSError):
            target = tree / Path(entry or ".").resolve().relative_to(head)
            if target.is_dir() and str(target) not in mapped:
                mapped.append(str(target))
    existing = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*mapped, *([existing] if existing else [])])}


def run(argv: list[str], cwd: Path, env: dict[str, str], output: Path) -> None:
    """Run the base measurement in its own process group, which dies with us."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True, start_new_session=True
        )
        try:
            code = proc.wait()
        finally:
            _kill_group(proc)
        if not output.is_file():  # exit 1 (a model failed) or 2 (a budget error) still write results
            err.seek(0)
            raise FlopguardError(
                "FG406",
                f"measuring the base failed (exit {code}): {err.read()[-2000:].strip() or 'no output'}",
                fix="run `flopguard measure` in a checkout of the base commit to see why",
            )


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            return
