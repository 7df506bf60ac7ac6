"""A pool worker: measures one model per request until told to stop (see `pool.py`).

    python -c BOOTSTRAP CAPTURE_FILE

It imports torch and the counting code once, says `{"ready": true}`, then
answers each request line `{"budget": PATH, "model": NAME, ...}` with
`{"result": <the model's results-file entry>}`. The protocol has the
process's original stdout to itself; while a model is measured, file
descriptors 1 and 2 point at CAPTURE_FILE, so whatever the model prints —
from Python or from a C extension — is captured, and survives a crash for
the parent to read. The worker exits at end of input, and dies with its
parent (parent-death signal on Linux, and a watcher thread everywhere).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

MAX_OUTPUT = 4000  # characters of captured output kept per model


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    capture = os.open(args[0], os.O_RDWR | os.O_CREAT, 0o600)
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(capture, 1)  # nothing but the protocol may reach the parent's pipe
    os.dup2(capture, 2)
    for stream in (sys.stdout, sys.stderr):  # unbuffered: a crash must not swallow the last lines
        stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    faulthandler.enable(file=sys.stderr)  # a segfault leaves the Python stack in the captured output
    _die_with_parent(os.getppid())
    _cap_memory(os.environ.get("FLOPGUARD_WORKER_MEMORY"))
    _warm()
    from pytest_flopguard.measure.environment import env_info

    _send(protocol, {"ready": True, "pid": os.getpid(), "env": env_info()})
    for line in sys.stdin:
        request = json.loads(line)
        _send(protocol, {"result": _measure(request, capture, protocol)})
    return 0


def _warm() -> None:
    """Import what every model needs once, before the first request's clock starts."""
    import torch

    from pytest_flopguard.measure.torch_engine.execute import count_model

    # One tiny model end to end: torch loads the rest of what counting needs
    # (dispatch modes, sympy for its shape checks) lazily, seconds that must not count against
    # the first model's timeout.
    count_model(lambda: torch.nn.Linear(2, 2), lambda device, model: ((torch.ones(1, 2),), {}))


def _measure(request: dict[str, Any], capture: int, protocol: IO[str]) -> dict[str, Any]:
    from dataclasses import replace

    from pytest_flopguard.results_json import model_to_json
    from pytest_flopguard.workers import faults
    from pytest_flopguard.workers.entry import measure_model

    spec, root = _spec(request["budget"], request["model"])
    _send(protocol, {"started": True})  # the model's timeout counts from here: our own work is not its
    before = set(sys.modules)
    os.ftruncate(capture, 0)
    os.lseek(capture, 0, os.SEEK_SET)
    result = measure_model(spec, root, capture=False)  # prints go to the capture file
    if result.error is not None and result.error.type == "MemoryError":
        result = replace(result, error=faults.out_of_memory(f"MemoryError: {result.error.message}"))
    if result.error is None and request.get("require_under"):
        result = _guarded(result, spec, request, [m for m in sys.modules if m not in before])
    printed = read_capture(capture)
    return model_to_json(replace(result, output=_joined(printed, result.output)))


def _guarded(result: Any, spec: Any, request: dict[str, Any], loaded: list[str]) -> Any:
    """In the base process: a model imported from the head checkout would measure the head."""
    from dataclasses import replace

    from pytest_flopguard.workers.importguard import ImportGuard

    head = Path(request["head_checkout"]) if request.get("head_checkout") else None
    error = ImportGuard(Path(request["require_under"]), head).check(spec, loaded)
    return replace(result, error=error) if error is not None else result


_budgets: dict[str, tuple[float, Any]] = {}


def _spec(path: str, name: str) -> tuple[Any, Path]:
    """The budget entry `name`; the file is parsed once per worker unless it changes."""
    from pytest_flopguard.budget.loader import load_budget

    mtime = os.stat(path).st_mtime
    cached = _budgets.get(path)
    if cached is None or cached[0] != mtime:
        _budgets[path] = cached = (mtime, load_budget(path))
    budget = cached[1]
    return budget.model(name), budget.root


def read_capture(fd_or_path: int | str, limit: int = MAX_OUTPUT) -> str:
    """The tail of what was printed, at most `limit` characters."""
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    if isinstance(fd_or_path, int):
        size = os.fstat(fd_or_path).st_size
        data = os.pread(fd_or_path, limit * 4, max(0, size - limit * 4))
    else:
        with open(fd_or_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit * 4))
            data = handle.read()
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit and size <= limit * 4 else "...\n" + text[-limit:]


def _joined(printed: str, captured: str) -> str:
    text = "".join(part for part in (printed, captured) if part)
    return text if len(text) <= MAX_OUTPUT else "...\n" + text[-MAX_OUTPUT:]


def _die_with_parent(parent: int) -> None:
    """No orphans: the kernel kills us with the parent (Linux); elsewhere a thread notices."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="flopguard-parent-watch", daemon=True).start()


def _cap_memory(limit: str | None) -> None:
    """`--worker-memory`: a model past it gets MemoryError (status `oom`) instead of the kernel's OOM killer."""
    if not limit:
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))


def _send(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
