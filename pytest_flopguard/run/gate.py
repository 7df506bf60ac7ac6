"""One gate run: measure the budget's models, then compare and report.

The pytest plugin and the CLI both drive a `Gate`; they differ only in who
decides which model is measured when.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flopguard.budget.schema import Budget
from pytest_flopguard.compare.diff import Comparison, ModelDiff, compare
from pytest_flopguard.measure.environment import env_info
from pytest_flopguard.results import HistoryRef, ModelResult, Results, TrendPoint
from pytest_flopguard.run.latency import LatencyOptions, head_figures, pair_latency, with_base_figures, with_latency
from pytest_flopguard.workers.importguard import ImportGuard

if TYPE_CHECKING:
    from pytest_flopguard.gitbase.measure_base import BaseCommit
    from pytest_flopguard.measure.types import LatencyStats
    from pytest_flopguard.workers.pool import Pool


Say = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


@dataclass
class Gate:
    """One run's models and figures. Set up by `run/start.py` from the options; the
    doors only call `ensure_base`, `measure` and read the results."""

    budget: Budget
    base: Results | None = None
    # The base commit, measured on first need (a git worktree is costly): see `ensure_base`.
    base_commit: BaseCommit | None = None
    base_cache: bool = True  # reuse the base's cached results (`gitbase/cache.py`); off: --no-cache
    # Off unless the options turn it on (never in the pre-commit hook or the base process).
    latency: LatencyOptions = field(default_factory=LatencyOptions)
    # Reuse the base's deterministic figures of models whose inputs are unchanged
    # (`reuse.py`); on unless --all.
    reuse: bool = False
    # Worker processes that measure the models (`workers/pool.py`); None: in this process (`--in-process`).
    pool: Pool | None = None
    # Set in the base process only: the models' code must come from the base checkout.
    guard: ImportGuard | None = None
    say: Say = _quiet  # progress lines: the base measured or cached, the pull request's base
    # Per model, per metric: the recorded history's references (`run/history.py`), for drift and the ratchet.
    history: Mapping[str, Mapping[str, HistoryRef]] = field(default_factory=dict)
    trends: Mapping[str, tuple[TrendPoint, ...]] = field(default_factory=dict)  # model -> its recorded FLOPs
    measured: dict[str, ModelResult] = field(default_factory=dict)
    # Head latency already timed interleaved with the base: model -> device -> figures.
    paired: dict[str, dict[str, LatencyStats]] = field(default_factory=dict)
    # The measuring processes' environment when they are not this one (xdist workers).
    env: dict[str, Any] | None = None

    def ensure_base(self, names: list[str] | None = None) -> Results | None:
        """The base results, measuring the base commit now if it is pending.

        `names`: the models this run measures (None: all); only they are measured
        in the base when they are a subset, and only they are timed against it.
        """
        if self.base is None and self.base_commit is not None:
            from pytest_flopguard.gitbase.measure_base import measure_base

            commit, self.base_commit = self.base_commit, None
            subset = names if names is not None and set(names) < {m.name for m in self.budget.models} else None
            measured = measure_base(commit, self.budget.path, subset, use_cache=self.base_cache, log=self.say)
            self.base = self._pair_latency(measured, commit, names)
        return self.base

    def measure(self, name: str) -> ModelResult:
        from pytest_flopguard.run import reuse as changes
        from pytest_flopguard.workers.entry import measure_model

        spec = self.budget.model(name)
        digest = changes.inputs_hash(spec, self.budget.root)
        base = self.base.models.get(name) if self.reuse and self.base is not None else None
        if changes.reusable(base, digest):
            assert base is not None and digest is not None
            result = changes.reused(base, spec, digest)
            if spec.latency_devices:
                result = with_latency(result, spec, self.budget.root, self.latency, self.paired.get(name))
            return self._done(name, result)
        before = set(sys.modules)
        started = time.perf_counter()
        result = (
            self.pool.measure(spec, self.budget.path, self.guard)
            if self.pool
            else measure_model(spec, self.budget.root)
        )
        result = replace(result, inputs_hash=digest, seconds=time.perf_counter() - started)
        if self.guard is not None and self.pool is None and result.error is None:  # a pool worker checks itself
            error = self.guard.check(spec, [m for m in sys.modules if m not in before])
            result = replace(result, error=error) if error is not None else result
        if spec.latency_devices:
            result = with_latency(result, spec, self.budget.root, self.latency, self.paired.get(name))
        return self._done(name, result)

    def _done(self, name: str, result: ModelResult) -> ModelResult:
        if name in self.history or name in self.trends:
            result = replace(result, history=self.history.get(name, {}), trend=self.trends.get(name, ()))
        self.measured[name] = result
        return result

    def _pair_latency(self, base: Results, commit: BaseCommit, names: Iterable[str] | None) -> Results:
        """Time the latency models interleaved with the base; `base` with the base's side of them."""
        pairs = pair_latency(self.budget, commit, list(names) if names is not None else None, self.latency, self.say)
        self.paired = head_figures(pairs)
        return with_base_figures(base, pairs)

    def measure_all(self, names: Iterable[str] | None = None) -> None:
        for name in names if names is not None else [m.name for m in self.budget.models]:
            self.measure(name)

    def results(self) -> Results:
        return Results(
            models=dict(self.measured),
            env=self.env
            if self.env is not None
            else (dict(self.pool.env) if self.pool and self.pool.env else env_info()),
            git=git_info(self.budget.path),
            budget=self.budget.display,
            budget_models=tuple(m.name for m in self.budget.models),
        )

    def comparison(self) -> Comparison:
        return compare(self.base, self.results())

    def baseline(self, previous: Results | None = None) -> Results:
        """This run as a baseline file. The previous figures of a budget model
        are kept when this run did not measure it (`-k`, `--model`) or could not
        (an error): a broken run must not erase the baseline it is judged by."""
        results = self.results()
        if previous is None:
            return results
        kept = {
            k: v
            for k, v in previous.models.items()
            if k in results.budget_models and v.error is None and (k not in self.measured or self.measured[k].error)
        }
        return replace(results, models={**results.models, **kept})

    def model_diff(self, name: str) -> ModelDiff:
        """The verdict of one model, as a pytest item needs it."""
        results = Results(models={name: self.measured[name]}, budget_models=(name,))
        base = None
        if self.base is not None:
            base = Results(models={k: v for k, v in self.base.models.items() if k == name})
        return compare(base, results).models[0]


def git_info(budget: Path) -> dict[str, Any]:
    """Commit and ref of the repository holding the budget, if it is one, and the
    budget file's path in it (`packages/vision/flopguard.yaml`: the key of its
    pull request comment, one per budget in a monorepo).

    Plain `git` calls: every measuring process records these, and importing
    GitPython would cost it a quarter of a second.
    """
    root = budget.parent
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if commit is None:  # not a repository, no commits yet, git missing: no git facts
        return {}
    ref = _git(root, "symbolic-ref", "--short", "-q", "HEAD") or None  # None: detached
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    prefix = _git(root, "rev-parse", "--show-prefix") or ""  # the folder in the repository, `a/b/` or empty
    return {"commit": commit, "ref": ref, "dirty": bool(status), "budget": f"{prefix}{budget.name}"}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
