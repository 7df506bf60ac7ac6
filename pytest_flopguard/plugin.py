"""pytest glue: hooks forward to one `Gate` kept in `config.stash`.

Loaded in every pytest run of the environment (pytest11 entry point), so it
imports nothing heavy at module level and does nothing without `--flopguard`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flopguard.errors import FlopguardError, Terminated
from pytest_flopguard.options import PYTEST_PREFIX, RUN_OPTIONS, RunOptions
from pytest_flopguard.signals import SigtermRaises, terminated

if TYPE_CHECKING:
    from pytest_flopguard.run.gate import Gate

GATE_KEY = pytest.StashKey["Gate"]()
NOTES_KEY = pytest.StashKey[list[str]]()  # lines for the terminal summary: base measured or cached, baseline written
SIGTERM_KEY = pytest.StashKey[SigtermRaises]()  # ours; the one before it is put back at unconfigure


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flopguard", "model budgets: FLOPs, params, memory, latency")
    group.addoption("--flopguard", action="store_true", help="measure the models of the budget file and gate them")
    for option in RUN_OPTIONS:  # the same table builds the `flopguard` command's options
        option.add(group.addoption, PYTEST_PREFIX)
    parser.addini("flopguard_budget", "path of the flopguard budget file, relative to the rootdir")


def run_options(config: pytest.Config) -> RunOptions:
    return RunOptions.read(config.getoption, PYTEST_PREFIX)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("flopguard"):
        return
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.run.start import start

    options = run_options(config)
    try:
        path = find_budget(
            config.rootpath,
            options.budget,
            config.getini("flopguard_budget") or None,
            invocation_dir=config.invocation_params.dir,
        )
        gate = start(
            options,
            path,
            config.stash.setdefault(NOTES_KEY, []).append,
            latency_off=_latency_off(config),
            fetch_history=not hasattr(config, "workerinput"),  # the controller fetched it
        )
    except FlopguardError as exc:
        raise pytest.UsageError(f"flopguard: {exc}") from None
    config.stash[GATE_KEY] = gate
    if config.pluginmanager.hasplugin("xdist"):
        _register_xdist(config, gate)
    if not hasattr(config, "workerinput"):
        # A cancelled CI job ends the session as Ctrl-C does, so it still finishes: the
        # reports get the models measured so far (the rest: not run); pytest exits 143.
        message = "flopguard: terminated (SIGTERM); the reports hold the models measured so far"
        config.stash[SIGTERM_KEY] = SigtermRaises(message).install()


def _register_xdist(config: pytest.Config, gate: Gate) -> None:
    """Workers measure, the controller owns the files (`xdist.py`); a worker takes the controller's base."""
    from pytest_flopguard.xdist import FlopguardXdist, worker_base

    config.pluginmanager.register(FlopguardXdist(config, gate), "flopguard-xdist")
    base = worker_base(config)
    if base is not None:
        gate.base, gate.base_commit = base, None


def _latency_off(config: pytest.Config) -> str | None:
    """Never timed in xdist runs: two timings at once disturb each other."""
    from pytest_flopguard.run.latency import IN_XDIST

    # xdist gives its workers `workerinput`; an environment variable would be
    # inherited by a pytest session that a worker starts as a subprocess.
    if hasattr(config, "workerinput"):
        return IN_XDIST
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_flopguard.xdist import is_controller

        if is_controller(config):  # it measures nothing: no base latency to pair with
            return IN_XDIST
    return None


def _gate(config: pytest.Config) -> Gate | None:
    return config.stash.get(GATE_KEY, None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Measure the base once, before the first model item, when one will run."""
    gate = _gate(session.config)
    if gate is None or session.config.option.collectonly or not any(isinstance(i, ModelItem) for i in session.items):
        return
    try:
        gate.ensure_base([i.name for i in session.items if isinstance(i, ModelItem)])
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
    if run_options(config).shard:
        _select_shard(config, gate, items)


def _select_shard(config: pytest.Config, gate: Gate, items: list[pytest.Item]) -> None:
    """Deselect the models of the other shards (balanced by the baseline file's costs, if any)."""
    from pytest_flopguard.run.shard import parse_shard, pick_shard

    options = run_options(config)
    assert options.shard is not None  # checked by the caller
    names = [m.name for m in gate.budget.models]
    mine = set(pick_shard(names, parse_shard(options.shard), gate.budget.path, options.baseline))
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
    if SIGTERM_KEY in session.config.stash and terminated():
        session.exitstatus = Terminated.exit_code  # pytest says "interrupted" (2); a job runner expects 143
    gate = _gate(session.config)
    if gate is None or not gate.measured or hasattr(session.config, "workerinput"):
        return  # an xdist worker hands its results to the controller instead (`xdist.py`)
    from pytest_flopguard.run.start import finish

    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    annotate = terminal.write_line if terminal is not None else print
    finish(gate, gate.comparison(), run_options(session.config), session.config.stash[NOTES_KEY].append, annotate)


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
