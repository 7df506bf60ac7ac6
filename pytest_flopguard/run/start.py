"""One run, whichever door: `start` sets up the gate, `finish` writes what was asked for.

The pytest plugin and the `flopguard` command both call these two, with the
`RunOptions` their options table gave them (`options.py`). They differ only
in who decides when each model is measured (a pytest item each; a loop in
`cli/main.py`) and where the lines they are handed go (`say`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopguard.budget.schema import Budget
from pytest_flopguard.errors import BudgetError, FlopguardError
from pytest_flopguard.options import RunOptions, default_baseline
from pytest_flopguard.run.gate import Gate, Say
from pytest_flopguard.run.history import FromHistory, from_history
from pytest_flopguard.run.latency import SWITCHED_OFF, LatencyOptions

if TYPE_CHECKING:
    from pytest_flopguard.compare.diff import Comparison
    from pytest_flopguard.gitbase.measure_base import BaseCommit
    from pytest_flopguard.workers.importguard import ImportGuard
    from pytest_flopguard.workers.pool import Pool


def start(
    options: RunOptions,
    budget_path: Path,
    say: Say,
    *,
    against_base: bool = True,
    latency_off: str | None = None,
    guard: ImportGuard | None = None,
    fetch_history: bool = True,
    environ: Mapping[str, str] = os.environ,
) -> Gate:
    """The gate for one run; every usage error is raised here, before anything slow.

    `against_base=False`: commands that only measure (`measure`, `baseline`,
    `explain`) never pick a base. `latency_off`: the door's reason not to time
    at all (an xdist worker), whatever the options say. `guard`: the base
    process's check that the models' code comes from the base checkout.
    `fetch_history=False`: read the results history without fetching it (xdist workers:
    their controller fetched it; concurrent fetches of one ref fail).
    """
    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.results import read_results

    _check(options, environ)
    budget = load_budget(budget_path)
    baseline = options.baseline if against_base and not options.update else None  # --update writes it instead
    base_commit = _base_commit(options, budget.root, say, environ) if against_base else None  # a bad ref: now
    history = from_history(budget, say, fetch=fetch_history) if against_base else FromHistory()
    budget = _with_errors(budget, history.errors)
    return Gate(
        budget,
        history=history.refs,
        trends=history.trends,
        base=read_results(baseline) if baseline else None,
        base_commit=base_commit,
        base_cache=not options.no_cache,
        latency=_latency(options, latency_off),
        reuse=not options.all,
        pool=None if options.in_process else _pool(options),
        guard=guard,
        say=say,
    )


def finish(
    gate: Gate,
    comparison: Comparison,
    options: RunOptions,
    say: Say,
    annotate: Callable[[str], None] = print,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Write the files the options name and, in GitHub Actions, the job summary and annotations.

    `annotate` prints our own workflow commands (built from escaped values) where
    the runner reads them: the step's log.
    """
    from pytest_flopguard.results import write_results, write_text_atomic

    results = gate.results() if options.json or options.plot else None  # git and env facts read once
    if results is not None and options.json:
        write_results(results, options.json)
    if options.markdown:
        from pytest_flopguard.render.markdown import render_markdown

        write_text_atomic(options.markdown, render_markdown(comparison))
        say(f"flopguard: Markdown report written to {options.markdown}")
    if results is not None and options.plot:
        from pytest_flopguard.render.plot import render_plot

        write_text_atomic(options.plot, render_plot(results))
        say(f"flopguard: plot written to {options.plot}")
    if options.update:
        _write_baseline(gate, options, say)
    if options.base_json and gate.base is not None:
        write_results(gate.base, options.base_json)
    report_to_actions(comparison, gate.budget.display, annotate, environ)
    if options.github_output:
        _write_github_output(comparison, options, environ)


def report_to_actions(
    comparison: Comparison, budget_file: str, annotate: Callable[[str], None], environ: Mapping[str, str]
) -> None:
    """In GitHub Actions: the full report in the job summary, annotations on the budget lines."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    from pytest_flopguard.github.outputs import MAX_SUMMARY, write_step_summary
    from pytest_flopguard.render.actions import error_annotations
    from pytest_flopguard.render.markdown import render_markdown

    write_step_summary(render_markdown(comparison, max_chars=MAX_SUMMARY // 4), environ)
    for line in error_annotations(comparison, budget_file):
        annotate(line)


def _with_errors(budget: Budget, errors: Mapping[str, BudgetError]) -> Budget:
    """`since:` names no recorded commit: that model fails as a budget error at its line."""
    if not errors:
        return budget
    models = tuple(replace(s, errors=(*s.errors, errors[s.name])) if s.name in errors else s for s in budget.models)
    return replace(budget, models=models)


def _check(options: RunOptions, environ: Mapping[str, str]) -> None:
    if options.base and options.baseline:
        raise FlopguardError("FG408", "--base and --baseline both name a base", fix="pass one of them")
    if options.shard:
        from pytest_flopguard.run.shard import parse_shard

        parse_shard(options.shard)
    if options.github_output:
        from pytest_flopguard.github.outputs import github_output_path

        github_output_path(environ)  # FG620 outside a workflow step


def _base_commit(options: RunOptions, root: Path, say: Say, environ: Mapping[str, str]) -> BaseCommit | None:
    """`--base REF`, else (in a GitHub Actions pull request, without --baseline) the PR's base,
    resolved now: a bad ref is a usage error before any model is measured."""
    from pytest_flopguard.gitbase.measure_base import default_ref, resolve_base

    ref = options.base
    if ref is None and options.baseline is None and (ref := default_ref(environ)) is not None:
        say(f"flopguard: pull request: diffing against its base {ref}")
    return resolve_base(ref, root) if ref is not None else None


def _latency(options: RunOptions, off: str | None) -> LatencyOptions:
    if off is not None:
        return LatencyOptions(reason=off)
    if options.no_latency:
        return LatencyOptions(reason=SWITCHED_OFF)
    return LatencyOptions(enabled=True, time=options.latency_time)


def _pool(options: RunOptions) -> Pool:
    from pytest_flopguard.workers.pool import DEFAULT_TOTAL, Pool

    return Pool(memory=options.worker_memory, total=options.timeout_total or DEFAULT_TOTAL)


def _write_baseline(gate: Gate, options: RunOptions, say: Say) -> None:
    """The machine-owned baseline file; a run of some models keeps the figures of the others."""
    from pytest_flopguard.results import previous_results, write_results

    path = Path(options.baseline) if options.baseline else default_baseline(gate.budget.path)
    written = gate.baseline(previous_results(path))
    write_results(written, path)
    say(f"flopguard: baseline written to {path} ({len(written.models)} models)")


def _write_github_output(comparison: Comparison, options: RunOptions, environ: Mapping[str, str]) -> None:
    from pytest_flopguard.github.outputs import regressions, write_github_output

    outputs = {
        "regressions": str(regressions(comparison)),
        "passed": "true" if comparison.passed else "false",
        # Models whose figures or verdict moved, and loosened limits: what `comment: on-change` waits for.
        "changed": str(sum(1 for m in comparison.models if m.changed) + len(comparison.relaxations)),
    }
    for name, path in (("results", options.json), ("report", options.markdown), ("base-results", options.base_json)):
        if path and Path(path).is_file():
            outputs[name] = str(Path(path).resolve())
    write_github_output(outputs, environ)
