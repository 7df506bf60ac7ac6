"""One gate run: measure the budget's models, then compare and report.

The pytest plugin and the CLI both drive a `Gate`; they differ only in who
decides which model is measured when.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopguard.budget.schema import Budget
from pytest_flopguard.compare.diff import Comparison, ModelDiff, compare
from pytest_flopguard.results import ModelResult, Results


@dataclass
class Gate:
    budget: Budget
    base: Results | None = None
    measured: dict[str, ModelResult] = field(default_factory=dict)

    def measure(self, name: str) -> ModelResult:
        from pytest_flopguard.measure.runner import measure_model

        result = measure_model(self.budget.model(name), self.budget.root)
        self.measured[name] = result
        return result

    def measure_all(self, names: Iterable[str] | None = None) -> None:
        for name in names if names is not None else [m.name for m in self.budget.models]:
            self.measure(name)

    def results(self) -> Results:
        return Results(
            models=dict(self.measured),
            env=env_info(),
            git=git_info(self.budget.root),
            budget=self.budget.display,
            budget_models=tuple(m.name for m in self.budget.models),
        )

    def comparison(self) -> Comparison:
        return compare(self.base, self.results())

    def model_diff(self, name: str) -> ModelDiff:
        """The verdict of one model, as a pytest item needs it."""
        results = Results(models={name: self.measured[name]}, budget_models=(name,))
        base = None
        if self.base is not None:
            base = Results(models={k: v for k, v in self.base.models.items() if k == name})
        return compare(base, results).models[0]


def env_info() -> dict[str, Any]:
    """What the figures depend on besides the code: versions and devices."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": sys.platform,
        "machine": platform.machine(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["threads"] = torch.get_num_threads()
    info["devices"] = {"cpu": platform.processor() or platform.machine()}
    return info


def git_info(root: Path) -> dict[str, Any]:
    """Commit and ref of the repository holding the budget, if it is one."""
    try:
        import git

        repo = git.Repo(root, search_parent_directories=True)
        ref = None if repo.head.is_detached else repo.active_branch.name
        return {"commit": repo.head.commit.hexsha, "ref": ref, "dirty": repo.is_dirty(untracked_files=False)}
    except Exception:  # not a repository, no commits yet, git missing: no git facts
        return {}
