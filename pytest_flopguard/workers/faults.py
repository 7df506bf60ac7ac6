"""Why a model has no figures when its process, not its code, failed.

A model measured in a worker process (`pool.py`) can end in ways that no
`except` sees: the process exits (`sys.exit`, `os._exit`), dies of a signal
(a segfault in an extension), runs past its `timeout:`, or runs out of
memory. Each is an `ErrorInfo` with a stable code and a one-line reason, so
compare and render show it as an `error` row like any exception.

| code  | type        | message starts with |
| ----- | ----------- | ------------------- |
| FG350 | Crashed     | `crashed (exit N)`  |
| FG351 | Crashed     | `crashed (SIGSEGV)` |
| FG352 | Timeout     | `timeout`           |
| FG353 | OutOfMemory | `oom`               |
| FG354 | Timeout     | `timeout` (the whole run's bound) |
| FG355 | Crashed     | `crashed` (the worker could not start or spoke nonsense) |
"""

from __future__ import annotations

import signal
import traceback
from pathlib import Path

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.results import ErrorInfo

CRASHED, TIMEOUT, OUT_OF_MEMORY = "Crashed", "Timeout", "OutOfMemory"


def exited(code: int) -> ErrorInfo:
    """The worker ended with exit status `code` before answering: `sys.exit`/`os._exit` in the model's code."""
    return ErrorInfo(
        CRASHED,
        f"crashed (exit {code}): the model's code ended the process measuring it",
        "FG350",
        "find the sys.exit()/os._exit()/exit() in the factory or forward (its output is shown below)",
    )


def killed(signum: int) -> ErrorInfo:
    """The worker died of a signal; SIGKILL that we did not send is most likely the kernel's OOM killer."""
    name = signal_name(signum)
    if signum == signal.SIGKILL:
        return ErrorInfo(
            OUT_OF_MEMORY,
            "oom: killed (SIGKILL), likely out of memory",
            "FG353",
            "build the model smaller for the gate (kwargs), or run on a machine with more memory",
        )
    return ErrorInfo(
        CRASHED,
        f"crashed ({name}) while measuring it",
        "FG351",
        "run the factory and one forward pass in plain Python to reproduce it; a C extension or op crashed",
    )


def timed_out(seconds: float) -> ErrorInfo:
    from pytest_flopguard.budget.units import format_time

    return ErrorInfo(
        TIMEOUT,
        f"timeout: not done after {format_time(seconds)}; its worker process group was killed",
        "FG352",
        "find what hangs (a loop, a lock, a download), or raise `timeout:` on the model in the budget",
    )


def out_of_memory(detail: str) -> ErrorInfo:
    return ErrorInfo(
        OUT_OF_MEMORY,
        f"oom: {detail}",
        "FG353",
        "build the model smaller for the gate (kwargs), or raise the worker memory cap (--worker-memory)",
    )


def run_timed_out(total: float, started: bool) -> ErrorInfo:
    from pytest_flopguard.budget.units import format_time

    when = "while measuring it" if started else "before it could be measured"
    return ErrorInfo(
        TIMEOUT,
        f"timeout: the whole run's bound of {format_time(total)} was reached {when}",
        "FG354",
        "raise --timeout-total (pytest: --flopguard-timeout-total), or shard the models (--shard I/N)",
    )


def broken_worker(detail: str) -> ErrorInfo:
    return ErrorInfo(CRASHED, f"crashed: {detail}", "FG355", "rerun with --in-process to see the failure directly")


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# --- the user's own frames of an exception -------------------------------------------


def error_info(exc: BaseException, root: Path) -> ErrorInfo:
    if isinstance(exc, FlopguardError):
        return ErrorInfo(
            type(exc).__name__, exc.message, exc.code, exc.fix, str(exc.location) if exc.location else None
        )
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ErrorInfo(type(exc).__name__, message, where=_user_frame(exc, root), traceback=user_traceback(exc, root))


def user_traceback(exc: BaseException, root: Path, frames: int = 3) -> str | None:
    """The last `frames` frames of the traceback that are the user's code (inside the
    budget's folder, not site-packages), formatted as Python does; None if none is.

    Our own frames and torch's are left out: the user can act only on theirs.
    """
    own = [f for f in traceback.extract_tb(exc.__traceback__) if inside(f.filename, root)]
    if not own:
        return None
    base = root.resolve()
    lines = []
    for frame in own[-frames:]:
        where = Path(frame.filename).resolve().relative_to(base)
        lines.append(f'File "{where}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"  {frame.line.strip()}")
    return "\n".join(lines)


def _user_frame(exc: BaseException, root: Path) -> str | None:
    """The innermost frame in the user's repository: where *their* code failed."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if inside(f.filename, root)]
    if not frames:
        return None
    frame = frames[-1]
    return f"{Path(frame.filename).resolve().relative_to(root.resolve())}:{frame.lineno}"


def inside(filename: str, root: Path) -> bool:
    if not Path(filename).is_file():  # `<string>`, `<frozen ...>`: no file of theirs
        return False
    try:
        Path(filename).resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return "site-packages" not in filename
