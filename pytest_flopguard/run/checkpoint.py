"""The command line's side of isolation: its options, its pool, and results that survive.

- `--in-process` measures in the `flopguard` process itself (debugging);
  otherwise a worker pool (`workers/pool.py`) does, bounded by `--timeout-total`,
  each worker's memory capped by `--worker-memory`.
- `Checkpoint` writes the results file after every model, atomically, and
  on SIGINT/SIGTERM (or any failure) writes what was measured before the
  exception ends the command (130/143): the models not reached are absent,
  so a comparison shows them as not run.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from dataclasses import replace
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from pytest_flopguard.errors import Terminated
from pytest_flopguard.options import HELP

if TYPE_CHECKING:
    from pytest_flopguard.results import Results
    from pytest_flopguard.run.gate import Gate
    from pytest_flopguard.workers.pool import Pool


def add_isolation_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--in-process",
        action="store_true",
        help=HELP["in_process"],
    )
    parser.add_argument(
        "--timeout-total",
        metavar="DURATION",
        type=_duration,
        help=HELP["timeout_total"],
    )
    parser.add_argument(
        "--worker-memory",
        metavar="SIZE",
        type=_size,
        help="cap each worker's address space, e.g. 16GiB: a model past it fails with status oom",
    )


def pool_for(args: argparse.Namespace) -> Pool | None:
    """The pool the command measures with (started now), or None with --in-process."""
    if getattr(args, "in_process", False):
        return None
    from pytest_flopguard.workers.pool import DEFAULT_TOTAL, Pool

    pool = Pool(
        memory=getattr(args, "worker_memory", None), total=getattr(args, "timeout_total", None) or DEFAULT_TOTAL
    )
    pool.prestart()
    return pool


class Checkpoint:
    """Results written after each model, and on the way out whatever ends the run."""

    def __init__(self, gate: Gate, path: str | None, say: Callable[[str], None]) -> None:
        self.gate, self.path, self.say = gate, path, say
        self._snapshot: Results | None = None
        self._previous: object = None

    def __enter__(self) -> Checkpoint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _raise_terminated)
        return self

    def save(self) -> None:
        if self.path is None:
            return
        from pytest_flopguard.results import write_results

        if self.gate.pool is not None and self.gate.pool.env:
            self.gate.env = dict(self.gate.pool.env)  # torch's version is the worker's
        if self._snapshot is None:  # git and env are read once: three git calls per model would add up
            self._snapshot = self.gate.results()
        write_results(replace(self._snapshot, models=dict(self.gate.measured), env=self.gate.env or {}), self.path)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)  # type: ignore[arg-type]
        if self.gate.pool is not None:
            self.gate.pool.close()
        if kind is None or self.path is None:
            return
        shielded = (
            {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
            if (threading.current_thread() is threading.main_thread())
            else {}
        )
        try:
            self.save()
            self.say(f"flopguard: wrote the {len(self.gate.measured)} models measured so far to {self.path}")
        finally:
            for sig, handler in shielded.items():
                signal.signal(sig, handler)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("terminated")


def _duration(text: str) -> float:
    from pytest_flopguard.errors import FlopguardError
    from pytest_flopguard.options import timeout_total

    try:
        return timeout_total(text, "--timeout-total")
    except FlopguardError as exc:  # argparse names the option itself
        raise argparse.ArgumentTypeError(f"{exc.message.removeprefix('--timeout-total: ')}; {exc.fix}") from None


def _size(text: str) -> int:
    from pytest_flopguard.budget.units import UnitError, parse_bytes

    try:
        size = parse_bytes(text, "--worker-memory")
    except UnitError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.fix}") from None
    if size < 2**30:
        raise argparse.ArgumentTypeError("under 1GiB: importing torch alone needs more address space")
    return size
