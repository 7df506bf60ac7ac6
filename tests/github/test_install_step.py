"""The action's install step, run for real: pip against a local package index, in a fresh venv.

On GitHub's Linux runners PyPI's torch is the distribution `2.14.1` to pip but
says `2.14.1+cu130` when imported. The step pins torch where it is, so that
installing the action never swaps it; pinned to `torch.__version__` it asked pip
for `torch==2.14.1+cu130`, which no index has, and no workflow got past it.
Here a torch-like wheel with the same split (2.13.0 to pip, 2.13.0+cu130 once
imported) is the only torch the index holds; the step runs as the runner runs it
(tests/helpers/gha.py), once as action.yml has it and once with the old line, which
must fail the same way it failed on the runners.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.gha import Job, load, runner_env
from tests.helpers.wheels import repack_installed, torch_like

pytestmark = pytest.mark.slow

ACTION = load(REPO / "action.yml")
STEP = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "install")
READ_DIST_VERSION = """torch_version=$(python -c 'import importlib.metadata as m, torch; print(m.version("torch"))')"""
OLD_READ_MODULE_VERSION = """torch_version=$(python -c 'import torch; print(torch.__version__)')"""
SOURCES = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "LICENSE",
    "action.yml",
    "pytest_flopguard",
    "example_repo",
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --find-links folder: the torch-like wheel, and setuptools to build the action with. Nothing else."""
    folder = tmp_path_factory.mktemp("index")
    torch_like(folder, "2.13.0", "2.13.0+cu130")
    repack_installed(folder, "setuptools")
    return folder


@pytest.fixture(scope="module")
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the action's folder (pip builds in the source folder; the clone stays clean)."""
    src = tmp_path_factory.mktemp("action") / "pytest-flopguard"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, src / name)
    return src


def fresh_venv(where: Path, index: Path) -> Path:
    """A venv without this environment's packages, with the torch-like wheel installed from the index."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(index), "torch==2.13.0"],
        capture_output=True, text=True, env=pip_env(index, where.parent), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return where


def pip_env(index: Path, tmp: Path) -> dict[str, str]:
    """pip with no configuration file, no index but the local folder, and no dependencies but those
    named (the action's own come from PyPI in real life; here only what the pin decides is tested)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))},
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(index),
        "PIP_NO_DEPS": "1",
        "PIP_CACHE_DIR": str(tmp / "pip-cache"),
    }


def run_install_step(script: str, venv: Path, action_path: Path, index: Path, tmp: Path) -> Job:
    event = tmp / "event.json"
    event.write_text(json.dumps({}))
    env = runner_env(tmp, "http://127.0.0.1:9", "push", event)
    env.update(pip_env(index, tmp))
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])  # the venv's python, no shim
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs.update({"working-directory": ".", "github-token": "", "cache": "false"})
    context = {
        "github": {"event_name": "push", "event": {}, "action_path": str(action_path), "workspace": str(tmp)},
        "runner": {"temp": env["RUNNER_TEMP"], "os": "Linux"},
        "inputs": inputs,
        "env": {},
    }
    (tmp / "scratch").mkdir()
    job = Job(context=context, env=env, workdir=tmp, scratch=tmp / "scratch")
    job.run([{**STEP, "run": script}])
    return job


def test_action_yml_reads_the_distribution_version() -> None:
    assert READ_DIST_VERSION in STEP["run"]
    assert OLD_READ_MODULE_VERSION not in STEP["run"]


@pytest.mark.parametrize("version_line", ["action.yml", "old"])
def test_install_step_with_a_local_version_torch(
    version_line: str, index: Path, action_path: Path, tmp_path: Path
) -> None:
    venv = fresh_venv(tmp_path / "venv", index)
    python = str(venv / "bin" / "python")
    said = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, cwd=tmp_path
    )
    assert said.stdout.strip() == "2.13.0+cu130"  # what the runner's torch says, not what pip knows it as

    script = (
        STEP["run"] if version_line == "action.yml" else STEP["run"].replace(READ_DIST_VERSION, OLD_READ_MODULE_VERSION)
    )
    job = run_install_step(script, venv, action_path, index, tmp_path)
    (result,) = job.results
    log = result.stdout + result.stderr
    if version_line == "old":
        assert result.code != 0, log
        assert "No matching distribution found for torch==2.13.0+cu130" in log, log
        return
    assert result.code == 0, log
    installed = subprocess.run(
        [python, "-c", "import importlib.metadata as m, pytest_flopguard, torch; "
         "print(m.version('pytest-flopguard'), m.version('torch'), pytest_flopguard.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=pip_env(index, tmp_path),
    ).stdout.split()  # fmt: skip
    assert installed[1] == "2.13.0" and installed[2].startswith(str(venv)), installed  # torch kept, action installed
