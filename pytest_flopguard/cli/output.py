"""How the `flopguard` commands print: every line through `emit`, which cannot issue
workflow commands, in colour only on a terminal."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_flopguard.compare.diff import Comparison


def say(message: str) -> None:
    """A progress or error line, on stderr."""
    emit(message, err=True)


def emit(text: str, err: bool = False) -> None:
    """Print text that may hold untrusted strings: it cannot issue workflow commands."""
    from pytest_flopguard.render.actions import neutralise

    print(neutralise(text), file=sys.stderr if err else sys.stdout, flush=err)


def print_table(comparison: Comparison) -> None:
    from pytest_flopguard.render.terminal import render_table

    emit("\n".join(render_table(comparison, color=color())))


def color() -> bool:
    """ANSI colours on a terminal; plain text in CI logs, pipes, NO_COLOR and TERM=dumb."""
    return (
        sys.stdout.isatty()
        and not os.environ.get("CI")
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )
