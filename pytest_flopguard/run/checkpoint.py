"""Results that survive the command line's run.

`Checkpoint` writes the results file after every model, atomically, and on
SIGINT/SIGTERM (`signals.py`) or any failure writes what was measured before
the exception ends the command (130/143): the models not reached are absent,
so a comparison shows them as not run. It closes the run's worker pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING

from pytest_flopguard.signals import SigtermRaises, shielded

if TYPE_CHECKING:
    from pytest_flopguard.results import Results
    from pytest_flopguard.run.gate import Gate


class Checkpoint:
    """Results written after each model, and on the way out whatever ends the run."""

    def __init__(self, gate: Gate, path: str | None, say: Callable[[str], None]) -> None:
        self.gate, self.path, self.say = gate, path, say
        self._snapshot: Results | None = None
        self._sigterm = SigtermRaises("terminated")

    def __enter__(self) -> Checkpoint:
        self._sigterm.install()
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
        self._sigterm.restore()
        if self.gate.pool is not None:
            self.gate.pool.close()
        if kind is None or self.path is None:
            return
        with shielded():
            self.save()
            self.say(f"flopguard: wrote the {len(self.gate.measured)} models measured so far to {self.path}")
