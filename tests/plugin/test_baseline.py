"""The machine-owned baseline file: `flopguard baseline --write` and `pytest --flopguard-update`.

Teams without a base checkout diff against a committed results file; writing
it never touches `flopguard.yaml`, which is the user's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.slow


def widen(budget: Path) -> None:
    text = budget.read_text()
    assert "width: 32" in text
    budget.write_text(text.replace("width: 32", "width: 36"))


def test_cli_baseline_writes_results_and_check_diffs_against_it(example_copy: Path) -> None:
    budget = example_copy / "flopguard.yaml"
    original = budget.read_bytes()
    proc = run_cli("baseline", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    written = example_copy / "flopguard-baseline.json"
    assert f"flopguard: baseline written to {written} (3 models)" in proc.stdout
    assert budget.read_bytes() == original
    data = json.loads(written.read_text())
    assert data["schema"] == 1 and sorted(data["models"]) == ["classifier", "detector", "tiny_gpt"]
    assert data["models"]["classifier"]["limits"]["flops"] == 600_000_000

    widen(budget)
    proc = run_cli("check", "--baseline", "flopguard-baseline.json", "--model", "classifier", cwd=example_copy)
    assert proc.returncode == 1
    assert "flopguard FAILED: 1 regressed, 2 not-run" in proc.stdout

    # A partial rewrite keeps the figures of the models it did not measure.
    proc = run_cli("baseline", "--model", "classifier", "--write", "flopguard-baseline.json", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    updated = json.loads(written.read_text())
    assert updated["models"]["tiny_gpt"] == data["models"]["tiny_gpt"]
    assert updated["models"]["classifier"]["metrics"]["macs"] > data["models"]["classifier"]["metrics"]["macs"]


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def test_pytest_update_writes_the_baseline_never_the_budget(repo: pytest.Pytester) -> None:
    budget = repo.path / "flopguard.yaml"
    result = repo.runpytest_subprocess("--flopguard", "--flopguard-update")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["flopguard: baseline written to *flopguard-baseline.json (3 models)"])  # as `flopguard baseline` says it
    first = json.loads((repo.path / "flopguard-baseline.json").read_text())

    widen(budget)
    widened = budget.read_bytes()
    result = repo.runpytest_subprocess("--flopguard", "--flopguard-baseline", "flopguard-baseline.json")
    result.assert_outcomes(passed=2, failed=1)

    # Updating accepts the growth: the old baseline is not a verdict, only rewritten.
    result = repo.runpytest_subprocess(
        "--flopguard", "--flopguard-update", "--flopguard-baseline", "flopguard-baseline.json", "-k", "classifier"
    )
    result.assert_outcomes(passed=1, deselected=2)
    second = json.loads((repo.path / "flopguard-baseline.json").read_text())
    assert second["models"]["tiny_gpt"] == first["models"]["tiny_gpt"]
    assert second["models"]["classifier"]["metrics"]["macs"] > first["models"]["classifier"]["metrics"]["macs"]
    assert budget.read_bytes() == widened


def test_a_model_that_breaks_keeps_its_baseline_figures(example_copy: Path) -> None:
    assert run_cli("baseline", cwd=example_copy).returncode == 0
    written = example_copy / "flopguard-baseline.json"
    before = json.loads(written.read_text())["models"]["classifier"]
    vision = example_copy / "models" / "vision.py"
    vision.write_text(vision.read_text() + "\nraise ImportError('half-finished refactor')\n")
    proc = run_cli("baseline", cwd=example_copy)
    assert proc.returncode == 1  # the broken model is reported...
    after = json.loads(written.read_text())["models"]
    assert after["classifier"] == before  # ...but its last good figures stay the baseline
    assert after["tiny_gpt"]["error"] is None
