"""The one build step pyproject.toml cannot declare: `example_repo/` goes into the wheel.

`flopguard demo` runs the gate on a copy of `example_repo/`. The folder stays at
the top of the repository, where users read it as an example; the wheel gets a
copy at `pytest_flopguard/example_repo/`, made here at build time, so there is
one copy in git and `pip install pytest-flopguard && flopguard demo` works
anywhere. (MANIFEST.in puts the folder in the sdist, which a wheel may be
built from.) An editable install reads it from the clone instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLE = Path(__file__).resolve().parent / "example_repo"


class BuildPyWithExample(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "pytest_flopguard" / "example_repo"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "flopguard-report.md"))


setup(cmdclass={"build_py": BuildPyWithExample})
