"""`flopguard demo`: the README's first command shows a caught regression and the layer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_flopguard.cli import demo
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_demo_catches_the_regression_and_names_the_layer(tmp_path: Path) -> None:
    done = run_cli("demo", cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "flopguard demo: a scratch git repository made from example_repo" in out
    assert "+ self.stage2 = BasicBlock(width, 3 * width, 2)" in out
    assert "$ flopguard check --base main --markdown" in out
    assert "flopguard FAILED: 1 regressed, 2 ok" in out
    regressed = [line.split() for line in out.splitlines() if line.rstrip().endswith("regressed")]
    assert regressed[0][:2] == ["classifier", "macs"]
    assert "  classifier: largest module changes: stage2 +" in out
    assert "the gate caught the regression" in out
    report = tmp_path / "flopguard-report.md"
    assert f"Markdown report (the pull request comment): {report}" in out
    assert "🔺 regressed" in report.read_text() and "stage2" in report.read_text()
    assert "measuring the base main" in done.stderr
    assert "Scratch repository: removed" in out


def test_keep_leaves_the_scratch_repository_to_explore(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    done = run_cli("demo", "--keep", str(keep), "--markdown", str(tmp_path / "r.md"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    repo = keep / "example_repo"
    branches = subprocess.run(["git", "branch", "--list"], cwd=repo, capture_output=True, text=True).stdout
    assert branches.split() == ["flopguard-history", "main", "*", "widen-stage2"]
    main = subprocess.run(["git", "log", "--format=%s", "main"], cwd=repo, capture_output=True, text=True).stdout
    assert main.splitlines() == ["Classifier width 32", "Classifier width 30", "Models and their budget"]
    recorded = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "flopguard-history"], cwd=repo, capture_output=True, text=True
    ).stdout.splitlines()
    assert len(recorded) == 3 and all(name.startswith("flopguard.yaml/") for name in recorded)
    assert "classifier: FLOPs over the recorded commits" in (tmp_path / "r.md").read_text()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status == "", "the gate leaves the repository as it was"
    again = run_cli("demo", "--keep", str(keep), cwd=tmp_path)
    assert again.returncode == 2 and "[FG631]" in again.stderr


def test_a_change_that_is_not_caught_fails_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harmless = ("models/vision.py", (('"""A small residual', '"""A small, residual'),))
    monkeypatch.setattr(demo, "CHANGE", harmless)
    monkeypatch.setenv("CI", "true")
    lines: list[str] = []
    code = demo.run_demo(None, str(tmp_path / "r.md"), lines.append)
    assert code == 1
    assert "the change was NOT caught as expected (`flopguard check` exited 0)" in lines[-1]


SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "pytest_flopguard", "example_repo")


def test_demo_runs_from_an_installed_wheel_outside_a_clone(tmp_path: Path) -> None:
    """Build the wheel from a copy of the sources, install it alone in a fresh venv (torch and the
    other dependencies from this environment, on a plain path entry), run `flopguard demo` elsewhere."""
    import shutil
    import sys
    import sysconfig

    from tests.conftest import REPO

    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert wheel.returncode == 0, wheel.stderr
    (built,) = (tmp_path / "dist").glob("pytest_flopguard-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(built)], capture_output=True, text=True, check=False
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    # This environment's packages (torch, jinja2, ...) as a plain path entry: its .pth files, and
    # with them the editable install of this clone, are not read, so the package comes from the wheel.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    away = tmp_path / "elsewhere"
    away.mkdir()
    where = subprocess.run([str(python), "-c", "import pytest_flopguard; print(pytest_flopguard.__file__)"],
                           cwd=away, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(site), where
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_ACTIONS", "GITHUB_BASE_REF")}
    demo_run = subprocess.run([str(venv / "bin" / "flopguard"), "demo"], cwd=away, env={**env, "CI": "true"},
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert demo_run.returncode == 0, demo_run.stdout + demo_run.stderr
    assert "the gate caught the regression" in demo_run.stdout
    assert "🔺 regressed" in (away / "flopguard-report.md").read_text()
