"""The results history in a run: `flopguard record` writes it, `check` reads the references.

For each model whose budget entry asks for it (`drift:`, `ratchet: true`),
`from_history` picks, per deterministic metric, the oldest recorded figure
(from `since:`, within `drift_window:`) and the best (lowest) one; for every
model, the FLOPs of the last recorded commits (the comment's trend chart).
They travel with the head's results (`ModelResult.history`, `.trend`), so
`compare` stays pure and two results files still suffice to judge a pull request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_flopguard import __version__
from pytest_flopguard.budget.hardening import repository_root as find_repository
from pytest_flopguard.budget.schema import Budget, HistorySpec, ModelSpec
from pytest_flopguard.errors import BudgetError, FlopguardError, Location
from pytest_flopguard.gitbase import history
from pytest_flopguard.metrics import metric_of
from pytest_flopguard.results import HistoryRef, Results, TrendPoint

Say = Callable[[str], None]
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
TREND_POINTS = 20  # recorded commits in a model's trend chart


def record_results(results: Results, budget_path: Path, say: Say, environ: Mapping[str, str] = os.environ) -> str:
    """Append `results`' deterministic figures to the history; the history branch's new tip."""
    if environ.get("GITHUB_EVENT_NAME") in PULL_REQUEST_EVENTS:
        raise FlopguardError(
            "FG713",
            f"`flopguard record` runs on the default branch, not in a {environ['GITHUB_EVENT_NAME']} event",
            fix="record in a workflow `on: push` to the default branch (with `permissions: contents: write`)",
        )
    root = repository_root(budget_path)
    assert root is not None  # required: raised otherwise
    key = budget_key(budget_path, root)
    recorded_for = results.git.get("budget")
    if recorded_for and recorded_for != key:
        raise FlopguardError(
            "FG716",
            f"the results are of the budget {recorded_for}, not {key}",
            fix=f"record them with --budget {recorded_for} (each budget has its own history)",
        )
    commit = results.git.get("commit")
    if not commit or results.git.get("dirty"):
        raise FlopguardError(
            "FG714",
            "the figures to record are not those of a commit (no commit, or uncommitted changes were measured)",
            fix="commit first, then record (CI records the commit it checked out)",
        )
    timestamp, tags, ancestors = history.commit_facts(root, str(commit))
    figures = {
        name: {k: v for k, v in result.metrics.items() if metric_of(k).deterministic}
        for name, result in results.models.items()
        if result.error is None
    }
    entry = history.Entry(str(commit), timestamp, figures, ancestors, tags, __version__, results.convention)
    tip = history.record(root, key, entry)
    say(f"flopguard: recorded {len(figures)} models of {entry.label} in the {history.BRANCH} branch ({tip[:12]})")
    return tip


@dataclass
class FromHistory:
    """What a check takes from the history: references and trends by model, `since:` errors."""

    refs: dict[str, dict[str, HistoryRef]] = field(default_factory=dict)
    trends: dict[str, tuple[TrendPoint, ...]] = field(default_factory=dict)
    errors: dict[str, BudgetError] = field(default_factory=dict)


def from_history(budget: Budget, say: Say, fetch: bool = True) -> FromHistory:
    """Read the budget's history, if the repository has one: every model's FLOPs trend, and
    the references of the models that ask for them (`drift:`, `ratchet:`). `fetch=False`:
    no `git fetch` (xdist workers read what their controller fetched)."""
    out = FromHistory()
    wanted = [spec for spec in budget.models if spec.history.active and not spec.errors]
    root = repository_root(budget.path, required=bool(wanted))
    if root is None:
        return out
    read = history.read(root, budget_key(budget.path, root), fetch=fetch)
    for warning in read.warnings:
        say(f"flopguard: warning: {warning}")
    for path in read.skipped:
        say(f"flopguard: warning: {history.BRANCH}:{path} is not a history entry; ignored")
    if not read.entries:
        if wanted:
            say(f"flopguard: no results history recorded yet ({history.BRANCH} branch): drift and ratchet skipped")
        return out
    for spec in budget.models:
        points = [
            TrendPoint(e.label, e.figures[spec.name]["flops"])
            for e in read.entries
            if "flops" in e.figures.get(spec.name, {})
        ]
        if points:
            out.trends[spec.name] = tuple(points[-TREND_POINTS:])
    for spec in wanted:
        since = spec.history.since
        commit = history.resolve(root, since) if since else None  # a tag made after the commit was recorded
        entries = _window(read.entries, spec.history, budget.display, spec, commit)
        if isinstance(entries, BudgetError):
            out.errors[spec.name] = entries
        else:
            out.refs[spec.name] = _model_refs(spec.name, entries)
    return out


def _window(
    entries: list[history.Entry], settings: HistorySpec, display: str, spec: ModelSpec, since_commit: str | None
) -> list[history.Entry] | BudgetError:
    """The entries from `since:` on (its commit, or a tag recorded with it), within `drift_window:` of the newest."""
    if settings.since is not None:
        start = next((i for i, e in enumerate(entries) if e.commit == since_commit or _names(e, settings.since)), None)
        if start is None:
            known = ", ".join(e.label for e in entries[-5:])
            return BudgetError(
                "FG149",
                f"since: {settings.since!r} names no commit of the recorded history",
                location=Location(display, settings.since_line, f"models.{spec.name}.since"),
                fix=f"name a tag or commit that `flopguard record` recorded (the latest: {known})",
                model=spec.name,
            )
        entries = entries[start:]
    if settings.window_days is not None and entries:
        oldest = entries[-1].timestamp - settings.window_days * 86400
        entries = [e for e in entries if e.timestamp >= oldest]
    return entries


def _names(entry: history.Entry, ref: str) -> bool:
    return ref in entry.tags or (len(ref) >= 7 and entry.commit.startswith(ref.lower()))


def _model_refs(name: str, entries: list[history.Entry]) -> dict[str, HistoryRef]:
    refs: dict[str, HistoryRef] = {}
    for entry in entries:
        for key, value in entry.figures.get(name, {}).items():
            ref = refs.get(key)
            if ref is None:
                refs[key] = HistoryRef(value, entry.label, value, entry.label, 1)
                continue
            best, best_at = (value, entry.label) if value < ref.best else (ref.best, ref.best_at)
            refs[key] = HistoryRef(ref.first, ref.first_at, best, best_at, ref.entries + 1)
    return refs


def repository_root(budget_path: Path, required: bool = True) -> Path | None:
    """The repository holding the budget (`budget.hardening`'s finder: the nearest folder with
    `.git`); outside one, an error if `required`, else None."""
    root = find_repository(budget_path.resolve().parent)
    if (root / ".git").exists():
        return root
    if not required:
        return None
    raise FlopguardError(
        "FG712",
        f"the budget {budget_path} is not in a git repository, which keeps the results history",
        fix="run it in the repository (`git init` and a first commit)",
    )


def budget_key(budget_path: Path, root: Path) -> str:
    """The budget's path in the repository: each budget of a monorepo has its own history."""
    return budget_path.resolve().relative_to(root.resolve()).as_posix()
