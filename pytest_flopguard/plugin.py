"""pytest glue: hooks forward to one `Gate` kept in `config.stash`.

Loaded in every pytest run of the environment (pytest11 entry point), so it
imports nothing heavy at module level and does nothing without `--flopguard`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flopguard.errors import FlopguardError, Terminated
from pytest_flopguard.options import HELP
from pytest_flopguard.run.gate import Gate
from pytest_flopguard.run.latency import LatencyOptions

if TYPE_CHECKING:
    from pytest_flopguard.results import Results

GATE_KEY = pytest.StashKey[Gate]()
NOTES_KEY = pytest.StashKey[list[str]]()  # lines for the terminal summary: base measured or cached, baseline written
SELECTED_KEY = pytest.StashKey[list[str]]()  # the models this session runs: only they are timed against the base
SIGTERM_KEY = pytest.StashKey["_OnSigterm"]()  # ours; the one before it is put back at unconfigure


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flopguard", "model budgets: FLOPs, params, memory, latency")
    group.addoption("--flopguard", action="store_true", help="measure the models of the budget file and gate them")
    group.addoption(
        "--flopguard-budget",
        metavar="PATH",
        help="budget file (default: flopguard_budget ini, [tool.flopguard] budget, or flopguard.yaml)",
    )
    group.addoption(
        "--flopguard-base",
        metavar="REF",
        help=HELP["base"],
    )
    group.addoption("--flopguard-baseline", metavar="FILE", help=HELP["baseline"])
    group.addoption(
        "--flopguard-update",
        action="store_true",
        help="write this run's results to the baseline file (--flopguard-baseline, default "
        "flopguard-baseline.json beside the budget); the budget file is never rewritten",
    )
    group.addoption("--flopguard-no-cache", action="store_true", help="measure the base even if it is cached")
    group.addoption(
        "--flopguard-in-process",
        action="store_true",
        help=HELP["in_process"],
    )
    group.addoption(
        "--flopguard-timeout-total",
        metavar="DURATION",
        help=HELP["timeout_total"],
    )
    group.addoption(
        "--flopguard-all",
        action="store_true",
        help="measure every model, even those whose inputs are unchanged since the base (whose figures are "
        "otherwise reused from it)",
    )
    group.addoption(
        "--flopguard-shard",
        metavar="I/N",
        help="run only shard I of N of the models (a CI matrix; the others are deselected and reported as not "
        "run); join the shards' --flopguard-json files with `flopguard merge`",
    )
    group.addoption("--flopguard-json", metavar="FILE", help="write the results JSON here")
    group.addoption("--flopguard-markdown", metavar="FILE", help="write the Markdown report here")
    group.addoption("--flopguard-no-latency", action="store_true", help="skip latency measurement")
    group.addoption(
        "--flopguard-latency-time",
        metavar="DURATION",
        help=HELP["latency_time"],
    )
    parser.addini("flopguard_budget", "path of the flopguard budget file, relative to the rootdir")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("flopguard"):
        return
    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.results import read_results

    try:
        path = find_budget(
            config.rootpath,
            config.getoption("flopguard_budget"),
            config.getini("flopguard_budget") or None,
            invocation_dir=config.invocation_params.dir,
        )
        baseline = config.getoption("flopguard_baseline")
        if baseline and config.getoption("flopguard_base"):
            raise FlopguardError(
                "FG408", "--flopguard-base and --flopguard-baseline both name a base", fix="pass one of them"
            )
        reads_baseline = baseline and not config.getoption("flopguard_update")
        gate = Gate(load_budget(path), base=read_results(baseline) if reads_baseline else None)
        gate.latency = _latency_options(config)
        gate.base_loader = _base_loader(config, gate)
        gate.reuse = not config.getoption("flopguard_all")
        total = _timeout_total(config)
        if not config.getoption("flopguard_in_process"):
            from pytest_flopguard.workers.pool import Pool

            gate.pool = Pool(total=total)  # its worker starts with the first model measured
        if config.getoption("flopguard_shard"):
            from pytest_flopguard.run.shard import parse_shard

            parse_shard(config.getoption("flopguard_shard"))
        config.stash[GATE_KEY] = gate
        if config.pluginmanager.hasplugin("xdist"):
            _register_xdist(config, gate)
    except FlopguardError as exc:
        raise pytest.UsageError(f"flopguard: {exc}") from None
    if not hasattr(config, "workerinput") and threading.current_thread() is threading.main_thread():
        config.stash[SIGTERM_KEY] = _OnSigterm()


class _OnSigterm:
    """SIGTERM (a cancelled CI job) ends the session as Ctrl-C does, so it still finishes:
    --flopguard-json and --flopguard-markdown get the models measured so far (the rest: not run).

    It raises `Terminated`, a KeyboardInterrupt, which no `except Exception` (in latency
    timing, in a model's own code) can swallow; pytest then exits 143. Once only: a second
    signal must not cut the reports short. A forked child (a DataLoader worker) dies as it
    would have without us.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.fired = False
        self.previous = signal.signal(signal.SIGTERM, self)

    def __call__(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.fired = True
        raise Terminated("flopguard: terminated (SIGTERM); the reports hold the models measured so far")

    def restore(self) -> None:
        if self.previous is not None:  # None: a handler installed from C, which Python cannot put back
            signal.signal(signal.SIGTERM, self.previous)


def _timeout_total(config: pytest.Config) -> float:
    from pytest_flopguard.options import timeout_total
    from pytest_flopguard.workers.pool import DEFAULT_TOTAL

    raw = config.getoption("flopguard_timeout_total")
    return timeout_total(raw, "--flopguard-timeout-total") if raw else DEFAULT_TOTAL


def _register_xdist(config: pytest.Config, gate: Gate) -> None:
    """Workers measure, the controller owns the files (`xdist.py`); a worker takes the controller's base."""
    from pytest_flopguard.xdist import FlopguardXdist, worker_base

    config.pluginmanager.register(FlopguardXdist(config, gate), "flopguard-xdist")
    base = worker_base(config)
    if base is not None:
        gate.base, gate.base_loader = base, None


def _base_loader(config: pytest.Config, gate: Gate) -> Callable[[], Results] | None:
    """Resolve `--flopguard-base` now (a bad ref is a usage error); measure it on first need."""
    import os

    from pytest_flopguard.gitbase.measure_base import default_ref, measure_base, resolve_base

    notes = config.stash.setdefault(NOTES_KEY, [])
    ref = config.getoption("flopguard_base")
    if ref is None and not config.getoption("flopguard_baseline") and (ref := default_ref(os.environ)):
        notes.append(f"flopguard: pull request: diffing against its base {ref}")
    if ref is None:
        return None
    base = resolve_base(ref, gate.budget.root)
    use_cache = not config.getoption("flopguard_no_cache")

    def load() -> Results:
        measured = measure_base(base, gate.budget.path, None, use_cache=use_cache, log=notes.append)
        return gate.pair_latency(measured, base, config.stash.get(SELECTED_KEY, None), notes.append)

    return load


def _latency_options(config: pytest.Config) -> LatencyOptions:
    """Timed unless switched off; never in xdist workers (two timings at once disturb each other)."""
    from pytest_flopguard.options import latency_time
    from pytest_flopguard.run.latency import IN_XDIST, SWITCHED_OFF

    if config.getoption("flopguard_no_latency"):
        return LatencyOptions(reason=SWITCHED_OFF)
    # xdist gives its workers `workerinput`; an environment variable would be
    # inherited by a pytest session that a worker starts as a subprocess.
    if hasattr(config, "workerinput"):
        return LatencyOptions(reason=IN_XDIST)
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_flopguard.xdist import is_controller

        if is_controller(config):  # it measures nothing: no base latency to pair with
            return LatencyOptions(reason=IN_XDIST)
    raw = config.getoption("flopguard_latency_time")
    seconds = latency_time(raw, "--flopguard-latency-time") if raw else None
    return LatencyOptions(enabled=True, time=seconds)


def _gate(config: pytest.Config) -> Gate | None:
    return config.stash.get(GATE_KEY, None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Measure the base once, before the first model item, when one will run."""
    gate = _gate(session.config)
    if gate is None or session.config.option.collectonly or not any(isinstance(i, ModelItem) for i in session.items):
        return
    session.config.stash[SELECTED_KEY] = [i.name for i in session.items if isinstance(i, ModelItem)]
    try:
        gate.ensure_base()
    except FlopguardError as exc:
        raise pytest.UsageError(f"flopguard: {exc}") from None
    if gate.pool is not None:  # --flopguard-timeout-total bounds the models, not collection or the base
        gate.pool.started = time.monotonic()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> BudgetFile | None:
    gate = _gate(parent.config)
    if gate is not None and file_path == gate.budget.path:
        return BudgetFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The budget file is collected even when it lies outside the test paths; a shard keeps its models."""
    gate = _gate(config)
    if gate is None:
        return
    if not any(isinstance(item, ModelItem) for item in items):
        items.extend(BudgetFile.from_parent(session, path=gate.budget.path).collect())
    if config.getoption("flopguard_shard"):
        _select_shard(config, gate, items)


def _select_shard(config: pytest.Config, gate: Gate, items: list[pytest.Item]) -> None:
    """Deselect the models of the other shards (balanced by the baseline file's costs, if any)."""
    from pytest_flopguard.run.shard import parse_shard, pick_shard

    names = [m.name for m in gate.budget.models]
    shard = parse_shard(config.getoption("flopguard_shard"))
    mine = set(pick_shard(names, shard, gate.budget.path, config.getoption("flopguard_baseline")))
    others = [i for i in items if isinstance(i, ModelItem) and i.name not in mine]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [i for i in items if not (isinstance(i, ModelItem) and i.name not in mine)]


class BudgetFile(pytest.File):
    def collect(self) -> Iterator[ModelItem]:
        gate = _gate(self.config)
        assert gate is not None
        for spec in gate.budget.models:
            yield ModelItem.from_parent(self, name=spec.name)


class ModelFailure(Exception):
    """A model over its limits, regressed, or broken: the message says which."""


class ModelItem(pytest.Item):
    def runtest(self) -> None:
        from pytest_flopguard.compare.diff import FAILING
        from pytest_flopguard.render.failure import failure_message

        gate = _gate(self.config)
        assert gate is not None
        gate.ensure_base()  # measured in pytest_runtestloop already, unless run another way
        gate.measure(self.name)
        diff = gate.model_diff(self.name)
        if diff.verdict in FAILING:
            raise ModelFailure(failure_message(diff, gate.budget.display))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ModelFailure):
            from pytest_flopguard.render.actions import neutralise

            return neutralise(str(excinfo.value))
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        gate = _gate(self.config)
        line = gate.budget.model(self.name).location.line if gate else None
        return self.path, (line - 1 if line else None), f"flopguard: {self.name}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    gate = _gate(config)
    if gate is None or not gate.measured:
        return
    from pytest_flopguard.render.terminal import render_table

    terminalreporter.section("flopguard")
    from pytest_flopguard.render.actions import neutralise

    for line in [*config.stash.get(NOTES_KEY, []), *render_table(gate.comparison())]:
        terminalreporter.write_line(neutralise(line))


def pytest_sessionfinish(session: pytest.Session) -> None:
    on_sigterm = session.config.stash.get(SIGTERM_KEY, None)
    if on_sigterm is not None and on_sigterm.fired:
        session.exitstatus = Terminated.exit_code  # pytest says "interrupted" (2); a job runner expects 143
    gate = _gate(session.config)
    if gate is None or not gate.measured or hasattr(session.config, "workerinput"):
        return  # an xdist worker hands its results to the controller instead (`xdist.py`)
    from pytest_flopguard.render.markdown import render_markdown
    from pytest_flopguard.results import write_results, write_text_atomic

    json_path = session.config.getoption("flopguard_json")
    markdown_path = session.config.getoption("flopguard_markdown")
    if json_path:
        write_results(gate.results(), json_path)
    if markdown_path:
        write_text_atomic(markdown_path, render_markdown(gate.comparison()))
    if session.config.getoption("flopguard_update"):
        _write_baseline(session.config, gate)


def _write_baseline(config: pytest.Config, gate: Gate) -> None:
    """The machine-owned baseline file; a `-k` run keeps the figures of the models it skipped."""
    from pytest_flopguard.options import default_baseline
    from pytest_flopguard.results import previous_results, write_results

    option = config.getoption("flopguard_baseline")
    path = Path(option) if option else default_baseline(gate.budget.path)
    written = write_results(gate.baseline(previous_results(path)), path)
    config.stash.setdefault(NOTES_KEY, []).append(f"flopguard: baseline written to {written}")


@pytest.fixture
def flopguard() -> Any:
    """Measure a model inside an ordinary test.

    >>> def test_small(flopguard):  # doctest: +SKIP
    ...     flopguard.measure(MyNet(), [(1, 3, 32, 32)]).assert_within(flops="20M")
    """
    from pytest_flopguard import fixture

    return fixture


def pytest_unconfigure(config: pytest.Config) -> None:
    """The pool's worker goes with the session (it would also die with this process)."""
    gate = _gate(config)
    if gate is not None and gate.pool is not None:
        gate.pool.close()
    if SIGTERM_KEY in config.stash:
        config.stash[SIGTERM_KEY].restore()
