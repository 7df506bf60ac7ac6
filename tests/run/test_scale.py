"""Scale out: pytest-xdist workers, `--flopguard-shard` + `flopguard merge`, change-only selection.

pytester sessions in subprocesses (see test_plugin.py) on a copy of
example_repo, and on a generated repository of 50 tiny models, each in its own
module. Results files are compared with the volatile fields dropped: `env`
(the interpreter's facts) and each model's `seconds` (a timing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_flopguard.run.shard import Shard, balanced_shard_names, shard_names
from tests.conftest import EXAMPLE, commit_all, git, run_cli

pytest.importorskip("xdist")


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def stable(path: Path) -> dict[str, Any]:
    """A results file without what differs from run to run: the environment and timings."""
    data: dict[str, Any] = json.loads(path.read_text())
    data.pop("env")
    for model in data["models"].values():
        model.pop("seconds", None)
    return data


# --- Must show 1: xdist, shards, partial runs -------------------------------------------------


@pytest.mark.slow
def test_xdist_writes_the_serial_results_report_and_baseline(repo: pytest.Pytester) -> None:
    outputs = ["--flopguard-json", "{}.json", "--flopguard-markdown", "{}.md", "--flopguard-update"]
    serial = repo.runpytest_subprocess("--flopguard", *(o.format("serial") for o in outputs))
    serial.assert_outcomes(passed=3)
    shutil.move(repo.path / "flopguard-baseline.json", repo.path / "serial-baseline.json")

    parallel = repo.runpytest_subprocess("--flopguard", "-n", "2", *(o.format("par") for o in outputs))
    parallel.assert_outcomes(passed=3)
    parallel.stdout.fnmatch_lines(["*= flopguard =*", "flopguard passed: 3 ok", "model*metric*head*limit*verdict"])
    assert stable(repo.path / "par.json") == stable(repo.path / "serial.json")
    assert (repo.path / "par.md").read_text() == (repo.path / "serial.md").read_text()
    assert stable(repo.path / "flopguard-baseline.json") == stable(repo.path / "serial-baseline.json")
    assert json.loads((repo.path / "par.json").read_text())["env"]["torch"], "the workers' environment"
    # Only the controller writes: no worker left a results file of its own models behind.
    assert sorted(p.name for p in repo.path.glob("*.json")) == [
        "flopguard-baseline.json",
        "par.json",
        "serial-baseline.json",
        "serial.json",
    ]


@pytest.mark.slow
def test_shards_merged_equal_the_full_run(repo: pytest.Pytester) -> None:
    repo.runpytest_subprocess("--flopguard", "--flopguard-json", "full.json").assert_outcomes(passed=3)
    sizes = []
    for i, extra in ((1, ()), (2, ("-n", "2"))):
        result = repo.runpytest_subprocess(
            "--flopguard", f"--flopguard-shard={i}/2", "--flopguard-json", f"s{i}.json", *extra
        )
        data = json.loads((repo.path / f"s{i}.json").read_text())
        ran = len(data["models"])
        sizes.append(ran)
        if not extra:  # xdist's controller does not show its workers' deselected count
            result.assert_outcomes(passed=ran, deselected=3 - ran)
        result.stdout.fnmatch_lines([f"flopguard passed: {3 - ran} not-run, {ran} ok"])
        assert data["budget_models"] == ["classifier", "tiny_gpt", "detector"], "the others are not run, not removed"
    assert sorted(sizes) == [1, 2]

    done = run_cli("merge", "s1.json", "s2.json", "--json", "all.json", cwd=repo.path)
    assert done.returncode == 0, done.stderr
    assert stable(repo.path / "all.json") == stable(repo.path / "full.json")

    missing = run_cli("merge", "s1.json", "--json", "part.json", cwd=repo.path)
    assert missing.returncode == 2 and "[FG605]" in missing.stderr
    absent = sorted(set(json.loads((repo.path / "s2.json").read_text())["models"]))
    assert f"model(s) of the budget in none of the files: {', '.join(map(repr, absent))}" in missing.stderr
    partial = run_cli("merge", "s1.json", "--json", "part.json", "--partial", cwd=repo.path)
    assert partial.returncode == 0, partial.stderr


@pytest.mark.slow
def test_k_under_xdist_reports_the_others_not_run(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess("--flopguard", "-n", "2", "-k", "tiny_gpt", "--flopguard-json", "out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flopguard passed: 2 not-run, 1 ok"])
    data = json.loads((repo.path / "out.json").read_text())
    assert list(data["models"]) == ["tiny_gpt"]
    assert data["budget_models"] == ["classifier", "tiny_gpt", "detector"]


@pytest.mark.slow
def test_xdist_measures_the_base_once_and_workers_catch_the_regression(repo: pytest.Pytester) -> None:
    """The controller opens the one worktree; the workers get the base on workerinput."""
    git(repo.path, "init", "-q", "-b", "main")
    commit_all(repo.path, "base")
    git(repo.path, "checkout", "-q", "-b", "feature")
    budget = repo.path / "flopguard.yaml"
    budget.write_text(budget.read_text().replace("width: 32", "width: 36"))
    commit_all(repo.path, "wider classifier")
    (repo.path / "conftest.py").write_text(
        "import os\n"
        "from pytest_flopguard.gitbase import measure_base as gitbase\n"
        "_measure = gitbase.measure_base\n"
        "def spy(*args, **kwargs):\n"
        "    with open('base-measured-by.txt', 'a') as f:\n"
        "        f.write(str(os.getpid()) + '\\n')\n"
        "    return _measure(*args, **kwargs)\n"
        "gitbase.measure_base = spy\n"
    )
    result = repo.runpytest_subprocess(
        "--flopguard", "-n", "2", "--flopguard-base", "main", "--flopguard-no-cache", "--flopguard-json", "out.json"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["classifier: * metric(s) failed", "  macs regressed: *", "flopguard FAILED: 1 regressed, 2 ok"]
    )
    # Once (one process called it), and by the controller: its summary carries the worktree note.
    assert len((repo.path / "base-measured-by.txt").read_text().splitlines()) == 1
    assert result.stdout.str().count("in a temporary worktree") == 1
    models = json.loads((repo.path / "out.json").read_text())["models"]
    assert {name for name, m in models.items() if m.get("reused")} == {"tiny_gpt", "detector"}


def test_importing_the_plugin_imports_neither_torch_nor_xdist() -> None:
    code = "import sys, pytest_flopguard.plugin; heavy = {'torch', 'xdist'} & set(sys.modules); assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- shard assignment --------------------------------------------------------------------------


def test_balanced_shards_partition_and_even_out_the_cost() -> None:
    names = [f"m{i}" for i in range(12)]
    costs = {"m0": 50.0, "m1": 40.0, **{f"m{i}": 1.0 for i in range(2, 12)}}
    shards = [balanced_shard_names(names, Shard(i, 3), costs) for i in (1, 2, 3)]
    assert sorted(n for s in shards for n in s) == sorted(names)
    totals = sorted(sum(costs[n] for n in s) for s in shards)
    assert totals == [10.0, 40.0, 50.0]  # the two big models alone; the ten small ones together
    again = [balanced_shard_names(list(reversed(names)), Shard(i, 3), dict(reversed(costs.items()))) for i in (1, 2, 3)]
    assert [sorted(s) for s in again] == [sorted(s) for s in shards], "the same on every job of the matrix"
    assert balanced_shard_names(names, Shard(2, 3), {}) == shard_names(names, Shard(2, 3)), "no costs: by name"


# --- Must show 2: change-only selection in a 50-model repository ---------------------------------


def zoo(root: Path, count: int) -> None:
    """`count` tiny models, each in its own module, and their budget (no limits: the base decides)."""
    models = root / "models"
    models.mkdir()
    (models / "__init__.py").write_text("")
    for i in range(count):
        width = 8 + i % 5
        (models / f"m{i:02d}.py").write_text(
            "import torch.nn as nn\n\n\n"
            f"def build():\n    return nn.Sequential(nn.Linear(8, {width}), nn.ReLU(), nn.Linear({width}, 4))\n"
        )
    entries = "".join(f"  m{i:02d}:\n    model: models.m{i:02d}:build\n    inputs: [[1, 8]]\n" for i in range(count))
    (root / "flopguard.yaml").write_text(f"version: 1\nmodels:\n{entries}")


@pytest.mark.slow
def test_one_changed_model_of_fifty_is_measured_and_its_regression_caught(pytester: pytest.Pytester) -> None:
    zoo(pytester.path, 50)
    pytester.runpytest_subprocess("--flopguard", "--flopguard-update").assert_outcomes(passed=50)
    baseline = json.loads((pytester.path / "flopguard-baseline.json").read_text())
    assert all(m["inputs_hash"] for m in baseline["models"].values())

    changed = pytester.path / "models" / "m07.py"
    changed.write_text(
        changed.read_text().replace(
            "nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 4)", "nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4)"
        )
    )
    result = pytester.runpytest_subprocess(
        "--flopguard", "--flopguard-baseline", "flopguard-baseline.json", "--flopguard-json", "out.json"
    )
    result.assert_outcomes(passed=49, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*m07: * metric(s) failed*",
            "*macs regressed: 120 -> 768*",  # 8*10 + 10*4 = 120 -> 8*64 + 64*4 = 768
            "flopguard FAILED: 1 regressed, 49 ok",
            "  reused from base, unchanged inputs: 49 model(s) (m00, m01, m02, m03, m04, m05, m06, m08, m09, m10 and 39 more)*",
        ]
    )
    models = json.loads((pytester.path / "out.json").read_text())["models"]
    assert [name for name, m in models.items() if not m.get("reused")] == ["m07"]
    assert all("seconds" not in m for name, m in models.items() if name != "m07"), "reused: not measured"
    assert models["m07"]["metrics"]["macs"] == 768
    assert models["m03"]["notes"][-1] == "reused from base, unchanged inputs"
    assert models["m03"]["metrics"] == baseline["models"]["m03"]["metrics"]

    everything = pytester.runpytest_subprocess(
        "--flopguard",
        "--flopguard-baseline",
        "flopguard-baseline.json",
        "--flopguard-all",
        "--flopguard-json",
        "all.json",
    )
    everything.assert_outcomes(passed=49, failed=1)
    assert not any(m.get("reused") for m in json.loads((pytester.path / "all.json").read_text())["models"].values())
