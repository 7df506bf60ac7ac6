"""The run options, once, for both doors; where the budget is.

`RUN_OPTIONS` is the one table of what a run can be told. The pytest plugin
adds each as `--flopguard-NAME`, the `flopguard` command as `--NAME` on the
commands the option lists (as pytest-benchmark builds its options), both with
the same help and the same parser, and each door reads them back into one
`RunOptions`, which `run/start.py` turns into a gate. An option in one door
only cannot happen: the table is all there is.

Budget lookup, in order: an explicit path (`--flopguard-budget` /
`--budget`), the `flopguard_budget` ini option, `[tool.flopguard] budget`
in pyproject.toml, then `flopguard.yaml` in the root folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flopguard.errors import FlopguardError, Location

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_BUDGET = "flopguard.yaml"
DEFAULT_BASELINE = "flopguard-baseline.json"
PYTEST_PREFIX = "flopguard-"


def latency_time(text: str) -> float:
    """`--latency-time`: a positive duration such as `30s`."""
    from pytest_flopguard.budget.units import UnitError, parse_time

    try:
        seconds = parse_time(text, "latency time")
    except UnitError as exc:
        raise FlopguardError("FG131", exc.message, fix=exc.fix) from None
    if seconds <= 0:
        raise FlopguardError("FG131", f"must be more than 0, got {text!r}", fix="write e.g. 10s")
    return seconds


def timeout_total(text: str) -> float:
    """`--timeout-total`: a positive duration such as `45m`."""
    from pytest_flopguard.budget.hardening import parse_timeout
    from pytest_flopguard.budget.units import UnitError

    try:
        return parse_timeout(text)
    except UnitError:
        raise FlopguardError(
            "FG132", f"{text!r} is not a duration of more than zero", fix="write e.g. 45m, 90s or 2h"
        ) from None


def worker_memory(text: str) -> int:
    """`--worker-memory`: an address-space cap such as `16GiB`, at least 1 GiB."""
    from pytest_flopguard.budget.units import UnitError, parse_bytes

    try:
        size = parse_bytes(text, "worker memory")
    except UnitError as exc:
        raise FlopguardError("FG133", exc.message, fix=exc.fix) from None
    if size < 2**30:
        raise FlopguardError(
            "FG133", f"{text} is under 1GiB: importing torch alone needs more address space", fix="write e.g. 16GiB"
        )
    return size


MEASURING = frozenset({"measure", "check", "baseline", "explain", "record"})  # the commands that measure models
FIGURES = frozenset({"measure", "check"})  # ... and print or write figures that a run can be told about


@dataclass(frozen=True)
class Option:
    """One run option: `--flopguard-NAME` in pytest, `--NAME` on the commands in `commands`."""

    name: str
    help: str
    metavar: str | None = None  # None: a flag
    parse: Callable[[str], Any] | None = None  # raises FlopguardError; both doors report it as a usage error
    commands: frozenset[str] = frozenset({"check"})

    @property
    def dest(self) -> str:
        return self.dest_with("")

    def dest_with(self, prefix: str) -> str:
        """Where a door keeps its value: `latency_time`, pytest's `flopguard_latency_time`."""
        return (prefix + self.name).replace("-", "_")

    def add(self, add_option: Callable[..., Any], prefix: str = "") -> None:
        """Add it through `add_option` (argparse's `add_argument`, pytest's `addoption`)."""
        kwargs: dict[str, Any] = {"dest": self.dest_with(prefix), "help": self.help}
        if self.metavar is None:
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = self.metavar
            if self.parse is not None:
                kwargs["type"] = _argparse_type(self.parse)
        add_option(f"--{prefix}{self.name}", **kwargs)


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse (and so pytest) reports the error with the option's name and exits 2 (pytest: 4)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except FlopguardError as exc:
            raise argparse.ArgumentTypeError(f"{exc.message} [{exc.code}]; {exc.fix}") from None

    convert.__name__ = parse.__name__  # argparse names the type in "invalid <name> value"
    return convert


RUN_OPTIONS = (
    Option(
        "budget",
        "budget file (default: the flopguard_budget ini option in pytest, [tool.flopguard] budget in "
        "pyproject.toml, or flopguard.yaml)",
        "FILE",
        commands=MEASURING,
    ),
    Option("json", "write the results JSON here", "FILE", commands=FIGURES),
    Option("markdown", "write the Markdown report (the pull request comment) here", "FILE"),
    Option("plot", "write an SVG of FLOPs vs params (and vs the budget's accuracy figures) here", "OUT.svg"),
    Option(
        "base",
        "diff against the merge-base of HEAD and this git ref, measured in a temporary worktree "
        "(default in a GitHub Actions pull request: its base branch)",
        "REF",
    ),
    Option("baseline", "diff against a saved results file", "FILE"),
    Option(
        "update",
        "write this run's results to the baseline file (--baseline, default flopguard-baseline.json beside the "
        "budget) instead of diffing against it; models not measured keep their figures; the budget is never "
        "rewritten",
    ),
    Option("no-cache", "measure the base even if its results are cached"),
    Option(
        "all",
        "measure every model, even those whose inputs are unchanged since the base (whose figures are "
        "otherwise reused from it)",
    ),
    Option(
        "shard",
        "measure only shard I of N of the models (a CI matrix; the others are reported as not run); join the "
        "shards' results files with `flopguard merge`",
        "I/N",  # checked by `run/start.py`, parsed by `run/shard.py` where it picks
        commands=FIGURES,
    ),
    Option("base-json", "write the base results it compared against here", "FILE"),
    Option("github-output", "write regressions=N and the written files' paths to $GITHUB_OUTPUT (step outputs)"),
    Option("no-latency", "do not time models (their latency rows say skipped)", commands=FIGURES),
    Option(
        "latency-time",
        "time per model and device for latency, e.g. 30s (default: the budget's timing.time, else 10s)",
        "DURATION",
        latency_time,
        commands=FIGURES,
    ),
    Option(
        "in-process",
        "measure in this process instead of worker processes (for debugging: a crash ends the run)",
        commands=MEASURING,
    ),
    Option(
        "timeout-total",
        "bound on measuring all models, e.g. 45m (default 6h); per model: `timeout:` in the budget (default 10m)",
        "DURATION",
        timeout_total,
        commands=MEASURING,
    ),
    Option(
        "worker-memory",
        "cap each worker's address space, e.g. 16GiB: a model past it fails with status oom",
        "SIZE",
        worker_memory,
        commands=MEASURING,
    ),
)


@dataclass(frozen=True)
class RunOptions:
    """What one run was told, whichever door it came through (`RUN_OPTIONS`' dests)."""

    budget: str | None = None
    json: str | None = None
    markdown: str | None = None
    plot: str | None = None
    base: str | None = None
    baseline: str | None = None
    update: bool = False
    no_cache: bool = False
    all: bool = False
    shard: str | None = None
    base_json: str | None = None
    github_output: bool = False
    no_latency: bool = False
    latency_time: float | None = None
    in_process: bool = False
    timeout_total: float | None = None
    worker_memory: int | None = None

    @classmethod
    def read(cls, value: Callable[[str], Any], prefix: str = "") -> RunOptions:
        """From `value(dest)`: the door's parsed option (under `prefix`), None where its command lacks it."""
        read = {o.dest: value(o.dest_with(prefix)) for o in RUN_OPTIONS}
        return cls(**{k: v for k, v in read.items() if v is not None})

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> RunOptions:
        return cls.read(lambda dest: getattr(args, dest, None))

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)


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
