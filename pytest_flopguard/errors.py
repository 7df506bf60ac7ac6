"""Errors that users see: a stable code, where, what, and how to fix it.

Every error caused by the user's input is a `FlopguardError`; the CLI prints
`str(err)` and exits 2, the plugin raises `pytest.UsageError` with it. Codes
are listed in docs/errors.md and never reused.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """`flopguard.yaml:12 models.resnet.limits.flops` — file, line, key path."""

    file: str
    line: int | None = None
    key_path: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.key_path}".rstrip()


class FlopguardError(Exception):
    """A user-facing error: code, message, optional location and fix."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        location: Location | None = None,
        fix: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location
        self.fix = fix
        self.model = model

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location else ""
        text = f"{head}{self.message} [{self.code}]"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class BudgetError(FlopguardError):
    """The budget file is invalid (CLI exit code 2)."""


class ResultsError(FlopguardError):
    """A results file cannot be read: missing, corrupt, or another schema."""


class Terminated(KeyboardInterrupt):
    """SIGTERM while a base worktree exists: raised so that `finally` removes it.

    A KeyboardInterrupt, so pytest and the CLI end the run as they do on Ctrl-C.
    """

    exit_code = 128 + 15


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word`, if any is close enough.

    >>> did_you_mean("flopz", ["flops", "params"])
    'flops'
    """
    matches = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None
