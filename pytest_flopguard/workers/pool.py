"""Measure models in worker processes, so that no model can take the run down.

A worker (`workers/pool_worker.py`) is a fresh interpreter — spawned, never
forked: a forked copy of a process that holds CUDA or threads is not safe —
in its own session and process group. It imports torch once and measures
one model per request; the run reuses it while it is healthy. When a model
kills it (`os._exit`, a segfault, the OOM killer) or runs past its timeout,
the whole process group is killed (a model's own subprocesses too), the
model gets a status (`faults.py`), and the next model gets a fresh worker,
started at once so torch's import overlaps the parent's own work.

Started with `subprocess` rather than `multiprocessing`'s spawn context: it
puts the worker in a new process group atomically (`start_new_session`), and
does not re-import the parent's `__main__` (pytest's, a user's script) in
every worker. Torch-free: only the workers import torch.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flopguard.results import ErrorInfo, ModelResult
from pytest_flopguard.workers import faults
from pytest_flopguard.workers.entry import with_entry

if TYPE_CHECKING:
    from pytest_flopguard.budget.schema import ModelSpec
    from pytest_flopguard.workers.importguard import ImportGuard

DEFAULT_TIMEOUT = 600.0  # per model, unless the budget says `timeout:`
DEFAULT_TOTAL = 6 * 3600.0  # the whole run: GitHub's own job limit, so a hang ends with results
READY_TIMEOUT = 300.0  # importing torch on a cold, loaded runner
_BOOTSTRAP = (
    "import sys; p = sys.path[:]; sys.path.insert(0, {root!r}); "
    "import pytest_flopguard.workers.pool_worker as w; sys.path[:] = p; sys.exit(w.main())"
)


class _Died(Exception):
    """The worker ended or fell silent past its deadline."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    capture: Path  # unlinked once the worker has opened it: nothing is left behind, even if we are killed
    fd: int  # our handle on the capture file, to read a dead worker's last words
    ready: bool = False
    buffer: bytearray = field(default_factory=bytearray)

    @classmethod
    def start(cls, memory: int | None) -> _Worker:
        fd, name = tempfile.mkstemp(prefix="flopguard-worker-", suffix=".out")
        capture = Path(name)
        tool_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "FLOPGUARD_WORKER_MEMORY": str(memory or "")}
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP.format(root=tool_root), str(capture)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: killed whole, never reached by our Ctrl-C
        )
        return cls(proc, capture, fd)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def receive(self, deadline: float, on_timeout: ErrorInfo) -> dict[str, Any]:
        """The next protocol line, or `_Died` with why there is none."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.dump_stack()
                self.kill()
                raise _Died(on_timeout)
            readable, _, _ = select.select([fd], [], [], min(left, 1.0))
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise _Died(self._ended())
                self.buffer += chunk
        line, _, rest = self.buffer.partition(b"\n")
        self.buffer = bytearray(rest)
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            self.kill()
            raise _Died(faults.broken_worker("the worker's answer was not JSON")) from None
        return message

    def _ended(self) -> ErrorInfo:
        code = self.proc.wait()
        self.kill()  # what the model started in the group goes too
        return faults.killed(-code) if code < 0 else faults.exited(code)

    def output(self) -> str:
        """All of what the dead worker's model printed, its fatal-error dump included (trimmed later)."""
        from pytest_flopguard.workers.pool_worker import read_capture

        with contextlib.suppress(OSError):
            return read_capture(self.fd, limit=1_000_000)
        return ""

    def dump_stack(self) -> None:
        """SIGABRT first: the worker's faulthandler writes where the model hangs to the capture file."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.proc.pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(2.0)

    def kill(self) -> None:
        """The worker's whole process group, at once: a timed-out model gets no grace."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        self.kill()
        self.capture.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass
class Pool:
    """Measures one model at a time in a reused worker process.

    >>> with Pool() as pool:  # doctest: +SKIP
    ...     result = pool.measure(budget.model("classifier"), budget.path)
    """

    memory: int | None = None  # bytes of address space per worker (RLIMIT_AS); None: no cap
    total: float = DEFAULT_TOTAL
    started: float = field(default_factory=time.monotonic)
    env: dict[str, Any] = field(default_factory=dict)  # the workers' env_info(): torch's version is theirs
    _worker: _Worker | None = None
    _at_exit: bool = False

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prestart(self) -> None:
        """Start a worker now, so that torch's import overlaps the caller's own work."""
        if self._worker is None:
            if not self._at_exit:  # an exception that bypasses the caller's cleanup still ends the worker
                atexit.register(self.close)
                self._at_exit = True
            self._worker = _Worker.start(self.memory)

    def measure(self, spec: ModelSpec, budget: Path, guard: ImportGuard | None = None) -> ModelResult:
        """`spec` measured in a worker; a dead or hung worker is a status on this model, never an exception."""
        from pytest_flopguard.workers.entry import measure_model

        if spec.errors:  # nothing to run: the entry's budget errors, reported as the in-process path does
            return measure_model(spec, budget.parent)
        run_left = self.total - (time.monotonic() - self.started)
        if run_left <= 0:
            return with_entry(ModelResult(error=faults.run_timed_out(self.total, started=False)), spec)
        timeout = spec_timeout(spec)
        hit = faults.timed_out(timeout) if timeout <= run_left else faults.run_timed_out(self.total, started=True)
        request: dict[str, Any] = {"budget": str(budget), "model": spec.name}
        if guard is not None:
            request |= {"require_under": str(guard.checkout), "head_checkout": str(guard.head or "") or None}
        try:
            entry = self._ask(request, min(timeout, run_left), hit)
        except _Died as died:
            worker, self._worker = self._worker, None
            output = worker.output() if worker is not None else ""
            if worker is not None:
                worker.close()
            self.prestart()  # the next model's worker, warming up while we report this one
            error, output = crash_report(died.error, output, budget.parent)
            return with_entry(ModelResult(error=error, output=_tail(output)), spec)
        from pytest_flopguard.results_json import model_from_json

        return with_entry(model_from_json(entry), spec)

    def _ask(self, request: dict[str, Any], seconds: float, on_timeout: ErrorInfo) -> dict[str, Any]:
        self.prestart()
        worker = self._worker
        assert worker is not None
        if not worker.ready:
            try:
                ready = worker.receive(time.monotonic() + READY_TIMEOUT, faults.broken_worker("no answer"))
            except _Died as died:
                raise _Died(faults.broken_worker(f"the worker process did not start ({died.error.message})")) from None
            worker.ready = bool(ready.get("ready"))
            worker.capture.unlink(missing_ok=True)  # the worker holds it open now
            self.env = dict(ready.get("env") or self.env)
        try:
            worker.send(request)
        except OSError:
            raise _Died(worker._ended()) from None
        started = worker.receive(time.monotonic() + READY_TIMEOUT, faults.broken_worker("no answer to a request"))
        if "started" not in started:
            worker.kill()
            raise _Died(faults.broken_worker(f"unexpected answer {sorted(started)}"))
        answer = worker.receive(time.monotonic() + seconds, on_timeout)
        if "result" not in answer:
            worker.kill()
            raise _Died(faults.broken_worker(f"unexpected answer {sorted(answer)}"))
        result: dict[str, Any] = answer["result"]
        return result

    def close(self) -> None:
        """Kill the worker's process group; safe to call twice, and from a signal's cleanup."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


_FAULT = re.compile(r"^Fatal Python error: ", re.MULTILINE)
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<name>\S+)', re.MULTILINE)


def crash_report(error: ErrorInfo, output: str, root: Path, frames: int = 3) -> tuple[ErrorInfo, str]:
    """The worker's fatal-error dump (`faulthandler`) turned into the user's frames only.

    The dump lists every frame, ours and torch's; the user gets the frames in
    their repository, as `where` and a trimmed traceback, and the output
    printed before the crash.
    """
    found = _FAULT.search(output)
    if found is None:
        return error, output
    from pytest_flopguard.workers.faults import inside

    dump, output = output[found.start() :], output[: found.start()].rstrip("\n")
    # One block per thread; the model ran in the one that was in `_measure` (not our parent-watch thread).
    dump = next((block for block in dump.split("\n\n") if " in _measure" in block), dump)
    own = [m for m in _FRAME.finditer(dump) if inside(m["file"], root)][:frames]  # innermost first
    if not own:
        return error, output
    base = root.resolve()
    places = [(Path(m["file"]).resolve().relative_to(base), m["line"], m["name"]) for m in reversed(own)]
    trace = "\n".join(f'File "{where}", line {line}, in {name}' for where, line, name in places)
    innermost = places[-1]
    return replace(error, where=f"{innermost[0]}:{innermost[1]}", traceback=trace), output


def _tail(text: str) -> str:
    from pytest_flopguard.workers.pool_worker import MAX_OUTPUT

    return text if len(text) <= MAX_OUTPUT else "...\n" + text[-MAX_OUTPUT:]


def spec_timeout(spec: ModelSpec) -> float:
    """The model's `timeout:` (its own, else the budget's defaults), else `DEFAULT_TIMEOUT`."""
    value = getattr(spec, "timeout", None)
    return float(value) if value else DEFAULT_TIMEOUT
