"""pytest glue: hooks forward to one `Gate` kept in `config.stash`.

Loaded in every pytest run of the environment (pytest11 entry point), so it
imports nothing heavy at module level and does nothing without `--flopguard`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.gate import Gate

GATE_KEY = pytest.StashKey[Gate]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flopguard", "model budgets: FLOPs, params, memory, latency")
    group.addoption("--flopguard", action="store_true", help="measure the models of the budget file and gate them")
    group.addoption(
        "--flopguard-budget",
        metavar="PATH",
        help="budget file (default: flopguard_budget ini, [tool.flopguard] budget, or flopguard.yaml)",
    )
    group.addoption("--flopguard-baseline", metavar="FILE", help="diff against a saved results file")
    group.addoption("--flopguard-json", metavar="FILE", help="write the results JSON here")
    group.addoption("--flopguard-markdown", metavar="FILE", help="write the Markdown report here")
    group.addoption("--flopguard-no-latency", action="store_true", help="skip latency measurement")
    parser.addini("flopguard_budget", "path of the flopguard budget file, relative to the rootdir")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("flopguard"):
        return
    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.results import read_results

    try:
        path = find_budget(
            config.rootpath, config.getoption("flopguard_budget"), config.getini("flopguard_budget") or None
        )
        baseline = config.getoption("flopguard_baseline")
        base = read_results(baseline) if baseline else None
        config.stash[GATE_KEY] = Gate(load_budget(path), base=base)
    except FlopguardError as exc:
        raise pytest.UsageError(f"flopguard: {exc}") from None


def _gate(config: pytest.Config) -> Gate | None:
    return config.stash.get(GATE_KEY, None)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> BudgetFile | None:
    gate = _gate(parent.config)
    if gate is not None and file_path == gate.budget.path:
        return BudgetFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The budget file is collected even when it lies outside the test paths."""
    gate = _gate(config)
    if gate is None or any(isinstance(item, ModelItem) for item in items):
        return
    items.extend(BudgetFile.from_parent(session, path=gate.budget.path).collect())


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
        gate.measure(self.name)
        diff = gate.model_diff(self.name)
        if diff.verdict in FAILING:
            raise ModelFailure(failure_message(diff, gate.budget.display))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ModelFailure):
            return str(excinfo.value)
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
    for line in render_table(gate.comparison()):
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    gate = _gate(session.config)
    if gate is None or not gate.measured:
        return
    from pytest_flopguard.render.markdown import render_markdown
    from pytest_flopguard.results import write_results, write_text_atomic

    json_path = session.config.getoption("flopguard_json")
    markdown_path = session.config.getoption("flopguard_markdown")
    if json_path:
        write_results(gate.results(), json_path)
    if markdown_path:
        write_text_atomic(markdown_path, render_markdown(gate.comparison()))


@pytest.fixture
def flopguard() -> Any:
    """Measure a model inside an ordinary test.

    >>> def test_small(flopguard):  # doctest: +SKIP
    ...     flopguard.measure(MyNet(), [(1, 3, 32, 32)]).assert_within(flops="20M")
    """
    from pytest_flopguard import fixture

    return fixture
