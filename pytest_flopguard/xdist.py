"""pytest-xdist: workers measure, the controller owns every file.

Registered by the plugin only when xdist is installed (its hooks are xdist's).

- The base (`--flopguard-base`) is measured once, by the controller, in
  `pytest_sessionstart` before xdist starts its workers (or read from the base
  cache); each worker receives it on `workerinput` and never opens a worktree.
- Each worker measures the items xdist hands it and, at the end of its session,
  puts its results (the results-file JSON) on `config.workeroutput`.
- The controller harvests them in `pytest_testnodedown` and alone writes the
  results file, the Markdown report, the baseline file and the terminal summary:
  the same results as a serial run, timings and environment aside.
- Latency is never timed with `-n`: neither workers (two timings at once
  disturb each other) nor the controller (it measures nothing); a serial run or a
  separate job times it.

Nothing here imports xdist: the hooks are plain methods that xdist calls.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flopguard.errors import FlopguardError

if TYPE_CHECKING:
    from pytest_flopguard.results import Results
    from pytest_flopguard.run.gate import Gate

PAYLOAD = "flopguard_results"  # workeroutput key: the worker's results JSON
BASE_INPUT = "flopguard_base"  # workerinput key: the base results JSON the controller measured


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process distributes items to xdist workers (`-n N`, `--dist ...`) and runs none."""
    return (
        config.pluginmanager.hasplugin("xdist")
        and not is_worker(config)
        and getattr(config.option, "dist", "no") != "no"
        and not config.option.collectonly
    )


def worker_base(config: pytest.Config) -> Results | None:
    """In a worker: the base results the controller measured, if it sent them."""
    from pytest_flopguard.results_json import from_json

    text = getattr(config, "workerinput", {}).get(BASE_INPUT)
    return from_json(json.loads(text), "the base results from the xdist controller") if text else None


class FlopguardXdist:
    """The hooks of both sides; each does nothing on the other side."""

    def __init__(self, config: pytest.Config, gate: Gate) -> None:
        self.config = config
        self.gate = gate

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Controller: measure the base now, before the workers start (xdist's hook runs last)."""
        if not is_controller(self.config) or self.gate.base_commit is None:
            return
        try:
            self.gate.ensure_base()
        except FlopguardError as exc:
            raise pytest.UsageError(f"flopguard: {exc}") from None

    def pytest_configure_node(self, node: Any) -> None:
        """Controller: every worker gets the base, so none measures it again."""
        if self.gate.base is not None:
            from pytest_flopguard.results_json import to_json

            node.workerinput[BASE_INPUT] = json.dumps(to_json(self.gate.base))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Worker: hand the results to the controller; a worker writes no file."""
        if not is_worker(self.config):
            return
        from pytest_flopguard.results_json import to_json

        self.config.workeroutput[PAYLOAD] = json.dumps(to_json(self.gate.results()))  # type: ignore[attr-defined]

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Controller: join a finished worker's results (a crashed worker's models stay not run)."""
        text = getattr(node, "workeroutput", {}).get(PAYLOAD)
        if not text:
            return
        from pytest_flopguard.results_json import from_json

        results = from_json(json.loads(text), "an xdist worker's results")
        self.gate.measured.update(results.models)
        if results.models and self.gate.env is None:
            self.gate.env = dict(results.env)  # the workers imported torch; the controller did not
