"""One SIGTERM policy: a cancelled CI job ends the run the way Ctrl-C does.

While a `SigtermRaises` is installed, SIGTERM raises `Terminated`, a
KeyboardInterrupt that no `except Exception` (in latency timing, in a model's
own code) can swallow, so every `finally` runs: the base's worktree is
removed, the reports get the models measured so far, and the run exits 143.
Once only: a second SIGTERM is ignored so it cannot cut that cleanup short. A
forked child (a DataLoader worker) dies as it would have without us. Off the
main thread, Python cannot take signals: nothing is installed.

Used by the pytest session (`plugin.py`), the command line's run
(`run/checkpoint.py`) and the base measurement (`gitbase/measure_base.py`);
installs nest, each putting back the one before it, and "once" holds across
them: after any of them fired, every one ignores SIGTERM until the outermost
is restored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

from pytest_flopguard.errors import Terminated


class _State:
    installed = 0  # SigtermRaises installed now, nested
    fired = False  # since the outermost was installed


def terminated() -> bool:
    """Whether SIGTERM ended the run that is (or was last) installed."""
    return _State.fired


class SigtermRaises:
    def __init__(self, message: str) -> None:
        self.message = message
        self._pid = os.getpid()
        self._previous: Any = None
        self._installed = False

    def install(self) -> SigtermRaises:
        if threading.current_thread() is threading.main_thread():
            if not _State.installed:
                _State.fired = False  # a new run
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
            _State.installed += 1
        return self

    def restore(self) -> None:
        if not self._installed:
            return
        if self._previous is not None:  # None: a handler installed from C, which Python cannot put back
            signal.signal(signal.SIGTERM, self._previous)
        self._installed = False
        _State.installed -= 1

    def __enter__(self) -> SigtermRaises:
        return self.install()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a forked child: die as without us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if _State.fired:
            return  # once: the cleanup the first one started must finish
        _State.fired = True
        raise Terminated(self.message)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored while a cleanup that must finish runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
