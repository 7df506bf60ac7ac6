"""The sdist: the LICENSE and the example in, no tests that could not run out of a clone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_sdist_has_the_license_and_the_example_and_no_tests(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        src.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    for folder in ("pytest_flopguard", "example_repo", "tests"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = "from setuptools import build_meta as b; print(b.build_sdist('dist'))"
    done = subprocess.run([sys.executable, "-c", build], cwd=src, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with tarfile.open(src / "dist" / done.stdout.strip().splitlines()[-1]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert "LICENSE" in names and "example_repo/flopguard.yaml" in names
    assert not [n for n in names if n.startswith("tests")], "tests in the sdist cannot run without the repository"
