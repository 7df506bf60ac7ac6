"""The package's layers hold: `lint-imports` keeps the contracts in pyproject.toml,
and fails on a copy of the package with one import planted upward."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (the dev extra has it)")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # grimp finds the package under `root` first
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "pytest_flopguard", tmp_path / "pytest_flopguard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    done = lint(copy_of_the_package(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_an_upward_import_breaks_the_build(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    units = root / "pytest_flopguard" / "budget" / "units.py"
    units.write_text(units.read_text() + "\nfrom pytest_flopguard.render import markdown  # planted: budget -> render\n")
    done = lint(root)
    assert done.returncode != 0
    assert "pytest_flopguard.budget is not allowed to import pytest_flopguard.render" in done.stdout
    assert "pytest_flopguard.budget.units -> pytest_flopguard.render.markdown" in done.stdout
