"""What the plugin and the CLI share: where the budget is, how outputs are named.

Budget lookup, in order: an explicit path (`--flopguard-budget` /
`--budget`), the `flopguard_budget` ini option, `[tool.flopguard] budget`
in pyproject.toml, then `flopguard.yaml` in the root folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_flopguard.errors import FlopguardError, Location

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_BUDGET = "flopguard.yaml"
# Help of the options the CLI (`--base`) and the pytest plugin (`--flopguard-base`) share.
HELP = {
    "base": "diff against the merge-base of HEAD and this git ref, measured in a temporary worktree "
    "(default in a GitHub Actions pull request: its base branch)",
    "baseline": "diff against a saved results file",
    "latency_time": "time per model and device for latency, e.g. 30s (default: the budget's timing.time, else 10s)",
    "timeout_total": "bound on measuring all models, e.g. 45m (default 6h); per model: `timeout:` in the budget "
    "(default 10m)",
    "in_process": "measure in this process instead of worker processes (for debugging: a crash ends the run)",
}
DEFAULT_BASELINE = "flopguard-baseline.json"


def default_baseline(budget: Path) -> Path:
    """The machine-owned baseline file lives beside the (human-owned) budget file."""
    return budget.parent / DEFAULT_BASELINE


def find_budget(
    root: Path, explicit: str | None = None, ini_value: str | None = None, invocation_dir: Path | None = None
) -> Path:
    """The budget file to use.

    An explicit path is relative to where the command was run (`invocation_dir`,
    default `root`), like every other path option; the configured ones are
    relative to `root`. pyproject.toml is read only when nothing else names one.
    """
    if explicit:
        return ((invocation_dir or root) / explicit).resolve()
    configured = ini_value or _from_pyproject(root)
    return (root / (configured or DEFAULT_BUDGET)).resolve()


def _from_pyproject(root: Path) -> str | None:
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FlopguardError(
            "FG120", f"cannot read pyproject.toml: {exc}", location=Location(str(path)), fix="fix the TOML syntax"
        ) from None
    value = data.get("tool", {}).get("flopguard", {}).get("budget")
    if value is not None and not isinstance(value, str):
        raise FlopguardError(
            "FG120",
            "[tool.flopguard] budget must be a path string",
            location=Location(str(path), None, "tool.flopguard.budget"),
            fix='write budget = "flopguard.yaml"',
        )
    return value


def timeout_total(text: str, option: str) -> float:
    """`--timeout-total` / `--flopguard-timeout-total`: a positive duration such as `45m`."""
    from pytest_flopguard.budget.hardening import parse_timeout
    from pytest_flopguard.budget.units import UnitError

    try:
        return parse_timeout(text)
    except UnitError:
        raise FlopguardError(
            "FG132", f"{option}: {text!r} is not a duration of more than zero", fix="write e.g. 45m, 90s or 2h"
        ) from None


def latency_time(text: str, option: str) -> float:
    """`--latency-time` / `--flopguard-latency-time`: a positive duration such as `30s`."""
    from pytest_flopguard.budget.units import UnitError, parse_time

    try:
        seconds = parse_time(text, option)
    except UnitError as exc:
        raise FlopguardError("FG131", exc.message, fix=exc.fix) from None
    if seconds <= 0:
        raise FlopguardError("FG131", f"{option} must be more than 0, got {text!r}", fix="write e.g. 10s")
    return seconds
