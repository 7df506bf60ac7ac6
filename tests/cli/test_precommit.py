"""The pre-commit hook: which models staged files affect, and real `pre-commit try-repo`.

Selection is static (ast, no torch); a commit that touches no model file
exits at once without importing torch. Through pre-commit itself: the
`flopguard` hook (`language: python`) in the environment pre-commit builds
from a snapshot of this checkout, with no install by hand; `flopguard-system`
in this environment, with none built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.cli.precommit import affected_models, deterministic_only
from pytest_flopguard.run.deps import module_closure
from pytest_flopguard.run.reuse import inputs_hash
from tests.conftest import REPO, run_cli
from tests.helpers.gha import edit, git

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


# --- which models a file affects ---------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["flopguard.yaml"], ["classifier", "tiny_gpt", "detector"]),
        (["models/vision.py"], ["classifier"]),
        (["models/text.py"], ["tiny_gpt"]),
        (["models/__init__.py"], ["classifier", "tiny_gpt"]),  # run by every `import models.x`
        (["models/text.py", "models/vision.py"], ["classifier", "tiny_gpt"]),
        (["README.md", "tests/test_x.py", "models/unused.py"], []),
        ([], []),
    ],
)
def test_affected_models_of_example_repo(example_copy: Path, files: list[str], expected: list[str]) -> None:
    (example_copy / "models" / "unused.py").write_text("import torch\n")
    budget = load_budget(example_copy / "flopguard.yaml")
    assert affected_models(budget, [example_copy / f for f in files]) == expected


def test_imports_are_followed_through_the_budget_folder(tmp_path: Path) -> None:
    """Absolute, relative and `from pkg import module` imports; packages' __init__; cycles."""
    pkg = tmp_path / "nets"
    (pkg / "layers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "layers" / "__init__.py").write_text("from .attention import Attention\n")
    (pkg / "layers" / "attention.py").write_text("from ..util import helper\nimport torch\n")
    (pkg / "util.py").write_text("import nets.build  # a cycle\n")
    (pkg / "build.py").write_text("from nets import layers\nfrom nets.config import WIDTH\n")
    (pkg / "config.py").write_text("WIDTH = 3\n")
    (pkg / "other.py").write_text("")
    (pkg / "broken.py").write_text("def (:\n")
    closure = {p.relative_to(tmp_path).as_posix() for p in module_closure(tmp_path.resolve(), "nets.build")}
    assert closure == {
        "nets/__init__.py",
        "nets/build.py",
        "nets/config.py",
        "nets/layers/__init__.py",
        "nets/layers/attention.py",
        "nets/util.py",
    }
    assert module_closure(tmp_path.resolve(), "nets.broken") == frozenset(
        {(pkg / "__init__.py").resolve(), (pkg / "broken.py").resolve()}
    )


def test_files_the_code_names_by_relative_path_are_dependencies(tmp_path: Path) -> None:
    """A config read at build time (from the module's folder or the budget's) changes the model too."""
    root = tmp_path.resolve()
    (root / "nets").mkdir()
    (root / "configs").mkdir()
    (root / "nets" / "__init__.py").write_text("")
    (root / "nets" / "widths.json").write_text('{"width": 8}')
    (root / "configs" / "net.yaml").write_text("depth: 2\n")
    (root / "configs" / "deep.yaml").write_text("depth: 4\n")
    (root / "configs" / "joined.toml").write_text("depth = 5\n")
    (root / "README.md").write_text("")
    (tmp_path.parent / "outside.txt").write_text("")
    (root / "nets" / "build.py").write_text(
        "import json, pathlib\n"
        "HERE = pathlib.Path(__file__).parent\n"
        "WIDTHS = json.loads((HERE / 'widths.json').read_text())\n"  # beside the module
        "CONFIG = 'configs/net.yaml'\n"  # from the budget's folder
        "DEEP = HERE / '..' / 'configs' / 'deep.yaml'\n"  # a constant tail of a / chain
        "import os\nJOINED = os.path.join(HERE, '..', 'configs', 'joined.toml')\n"
        "OUT = '../outside.txt'\n"  # leaves the folder: not followed
        "DIR = 'configs'\n"  # a folder: not a file
        "MISSING = 'configs/none.yaml'\n"
        "def build(): ...\n"
    )
    closure = {p.relative_to(root).as_posix() for p in module_closure(root, "nets.build")}
    assert closure == {
        "nets/__init__.py",
        "nets/build.py",
        "nets/widths.json",
        "configs/net.yaml",
        "configs/deep.yaml",
        "configs/joined.toml",
    }
    (root / "flopguard.yaml").write_text(
        "version: 1\nmodels:\n  net:\n    model: nets.build:build\n    inputs: [[1, 4]]\n"
    )
    budget = load_budget(root / "flopguard.yaml")
    assert affected_models(budget, [root / "configs" / "net.yaml"]) == ["net"]
    assert affected_models(budget, [root / "README.md"]) == []
    before = inputs_hash(budget.model("net"), root)
    assert before is not None
    (root / "configs" / "net.yaml").write_text("depth: 3\n")
    assert inputs_hash(budget.model("net"), root) not in (None, before), "a changed config is not reused"


def test_onnx_models_and_inputs_functions_are_selected_by_their_files(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "__init__.py").write_text("")
    (tmp_path / "m" / "net.py").write_text("def build(): ...\n")
    (tmp_path / "m" / "data.py").write_text("def make(): ...\n")
    (tmp_path / "flopguard.yaml").write_text(
        "version: 1\nmodels:\n"
        "  net:\n    model: m.net:build\n    inputs: m.data:make\n    limits: {flops: 1G}\n"
        "  detector:\n    onnx: exported/detector.onnx\n    inputs: {images: [1, 3, 64, 64]}\n    limits: {flops: 1G}\n"
    )
    budget = load_budget(tmp_path / "flopguard.yaml")
    assert affected_models(budget, [tmp_path / "m" / "data.py"]) == ["net"]
    assert affected_models(budget, [tmp_path / "exported" / "detector.onnx"]) == ["detector"]
    assert affected_models(budget, [tmp_path / "other.onnx"]) == []


def test_latency_limits_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "flopguard.yaml").write_text(
        "version: 1\nmodels:\n  net:\n    model: m.net:build\n    inputs: [[1, 4]]\n"
        "    tolerance: {latency: 10%, flops: 1%}\n"
        "    limits: {flops: 1G, latency: {cpu: 5ms}, latency_estimate: {jetson-orin-nano: 4ms}}\n"
        "  other:\n    model: m.net:build\n    inputs: [[1, 4]]\n"
    )
    budget = deterministic_only(load_budget(tmp_path / "flopguard.yaml"), ["net"])
    (net,) = budget.models
    assert sorted(net.limits) == ["flops", "latency_estimate.jetson-orin-nano"]
    assert dict(net.tolerance) == {"flops": 0.01}


def test_nothing_affected_exits_at_once_without_torch(example_copy: Path) -> None:
    code = (
        "import sys\n"
        "from pytest_flopguard.cli import main\n"
        "rc = main(['pre-commit', 'README.md', 'notes/x.py'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=example_copy, capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_touched_model_is_checked_against_its_limits(example_copy: Path) -> None:
    edit(example_copy / "flopguard.yaml", ("macs: 200M", "macs: 100M"))  # tiny_gpt's
    vision = run_cli("pre-commit", "models/vision.py", cwd=example_copy)
    assert vision.returncode == 0, vision.stdout + vision.stderr
    assert "classifier" in vision.stdout and "tiny_gpt" not in vision.stdout
    text = run_cli("pre-commit", "models/text.py", cwd=example_copy)
    assert text.returncode == 1
    assert "over-limit" in text.stdout and "classifier" not in text.stdout


# --- Must show 3: through pre-commit itself -----------------------------------------------


SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", ".pre-commit-hooks.yaml")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as pre-commit will clone it: a one-commit repository of its package sources
    and manifest (try-repo reads committed files; the working tree here may not be committed)."""
    snapshot = tmp_path_factory.mktemp("hooks") / "hook-repo"
    snapshot.mkdir()
    for name in SOURCES:
        shutil.copy2(REPO / name, snapshot / name)
    for folder in ("pytest_flopguard", "example_repo"):
        shutil.copytree(REPO / folder, snapshot / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    git(snapshot, "init", "-q")
    git(snapshot, "add", "-A")
    git(snapshot, "commit", "-q", "-m", "hooks")
    return snapshot


def pre_commit(*args: str, cwd: Path, home: Path, isolated: bool = False) -> subprocess.CompletedProcess[str]:
    """`isolated`: this environment's `bin` is not on PATH (the hook must bring its own flopguard)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT", "PYTHON", "VIRTUAL_ENV"))}
    path = (
        [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN]
        if isolated
        else [str(BIN), env.get("PATH", "")]
    )
    env.update(
        HOME=str(home),
        PRE_COMMIT_HOME=str(home / "pre-commit"),
        XDG_CACHE_HOME=str(home / "cache"),
        PATH=os.pathsep.join(path),
        CI="true",
    )
    return subprocess.run(
        [str(BIN / "pre-commit"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.parametrize("hook", ["flopguard", "flopguard-system"])
def test_try_repo_passes_then_fails_after_a_limit_is_tightened(
    hook: str, example_copy: Path, hook_repo: Path, tmp_path: Path
) -> None:
    """In a fresh repository. `flopguard` (language: python): pre-commit builds its environment from
    the hook repository (the package, torch from pip's configured index); nothing is installed by hand,
    and this environment's packages are out of reach (`PATH` without its bin, no PYTHONPATH)."""
    if shutil.which("pre-commit", path=str(BIN)) is None:
        pytest.skip("pre-commit is not installed: pip install -e '.[dev]'")
    home = tmp_path / "home"
    home.mkdir()
    git(example_copy, "init", "-q")
    git(example_copy, "add", "-A")
    git(example_copy, "commit", "-q", "-m", "example")
    isolated = hook == "flopguard"
    # The classifier only: the ONNX detector would need `additional_dependencies: [onnx]`, which
    # try-repo cannot pass.
    files = ("--files", "models/vision.py")

    passed = pre_commit("try-repo", str(hook_repo), hook, *files, cwd=example_copy, home=home, isolated=isolated)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "flopguard (model budgets" in passed.stdout and "Passed" in passed.stdout

    edit(example_copy / "flopguard.yaml", ("params: 1M", "params: 200K"))  # the classifier has 309K
    git(example_copy, "add", "flopguard.yaml")
    failed = pre_commit("try-repo", str(hook_repo), hook, *files, cwd=example_copy, home=home, isolated=isolated)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "params" in failed.stdout and "200K (154%)" in failed.stdout and "over-limit" in failed.stdout
    # try-repo builds in a store of its own (a temporary folder), so its log is the witness.
    building = "[INFO] Installing environment for"
    for run in (passed, failed):
        assert (building in run.stdout + run.stderr) is isolated, run.stdout + run.stderr


def test_the_manifest_and_the_example_config_are_valid(tmp_path: Path) -> None:
    if shutil.which("pre-commit", path=str(BIN)) is None:
        pytest.skip("pre-commit is not installed: pip install -e '.[dev]'")
    manifest = pre_commit("validate-manifest", str(REPO / ".pre-commit-hooks.yaml"), cwd=tmp_path, home=tmp_path)
    assert manifest.returncode == 0, manifest.stdout + manifest.stderr
    config = REPO / "example_repo" / ".pre-commit-config.yaml"
    checked = pre_commit("validate-config", str(config), cwd=tmp_path, home=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [(h["id"], h["language"], h["entry"]) for h in hooks] == [
        ("flopguard", "python", "flopguard pre-commit"),
        ("flopguard-system", "system", "flopguard pre-commit"),
    ]
    assert all(h["pass_filenames"] is True and h["require_serial"] is True for h in hooks)
