"""Step outputs and the job summary for GitHub Actions: `flopguard check --github-output`.

The composite action reads `regressions`, `results`, `report` and
`base-results` from the check step's `$GITHUB_OUTPUT`, so the figures are
computed once, by the CLI, and never re-parsed in shell.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from pytest_flopguard.compare.diff import FAILING, Comparison
from pytest_flopguard.errors import FlopguardError

MAX_SUMMARY = 1024 * 1024  # bytes per step summary


def regressions(comparison: Comparison) -> int:
    """Models that fail the gate: regressed, over a limit, or not measurable."""
    return sum(1 for model in comparison.models if model.verdict in FAILING)


def github_output_path(env: Mapping[str, str]) -> str:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        raise FlopguardError(
            "FG620",
            "--github-output needs GITHUB_OUTPUT, which GitHub Actions sets in every step",
            fix="use --github-output inside a workflow step only",
        )
    return path


def write_github_output(values: Mapping[str, str], env: Mapping[str, str]) -> None:
    """Append `name=value` lines (the multi-line form where a value needs it) to `$GITHUB_OUTPUT`."""
    with open(github_output_path(env), "a", encoding="utf-8") as handle:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{name}={value}\n")


def write_step_summary(markdown: str, env: Mapping[str, str]) -> bool:
    """Append the report to `$GITHUB_STEP_SUMMARY` (capped at 1 MiB); False outside Actions."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    data = markdown.encode("utf-8")
    if len(data) > MAX_SUMMARY:
        note = b"\n\n_(report truncated to fit the 1 MiB job summary)_\n"
        data = data[: MAX_SUMMARY - len(note)].decode("utf-8", "ignore").encode() + note
    with open(path, "ab") as handle:
        handle.write(data)
    return True
