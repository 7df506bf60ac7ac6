"""`check --base REF` / `--flopguard-base REF` on real git repositories made in tmp_path.

Each repository is a copy of example_repo committed on `main`; a `feature`
branch changes it. After every run the user's repository must be as it was:
one worktree, the same status, index and stash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_flopguard.gitbase.cache import cache_key
from pytest_flopguard.gitbase.measure_base import default_ref
from tests.conftest import commit_all, edit, git, run_cli

pytestmark = pytest.mark.slow

WIDEN = (
    ("self.stage2 = BasicBlock(width, 2 * width, 2)", "self.stage2 = BasicBlock(width, 3 * width, 2)"),
    ("self.stage3 = BasicBlock(2 * width, 4 * width, 2)", "self.stage3 = BasicBlock(3 * width, 4 * width, 2)"),
)


@pytest.fixture
def repo(example_copy: Path) -> Path:
    """example_repo as a git repository with one commit on `main`."""
    (example_copy / ".gitignore").write_text("__pycache__/\n")
    git(example_copy, "init", "-q", "-b", "main")
    commit_all(example_copy, "models and budget")
    return example_copy


def widen_on_feature(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo / "models" / "vision.py", *WIDEN)
    commit_all(repo, "widen stage2")


def snapshot(repo: Path) -> dict[str, str]:
    """What the user would see: worktrees, status, index, diffs, stash."""
    return {
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "index": git(repo, "ls-files", "--stage"),
        "diff": git(repo, "diff"),
        "staged": git(repo, "diff", "--cached"),
        "stash": git(repo, "stash", "list"),
    }


def only_main_worktree(repo: Path) -> bool:
    return git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def row(stdout: str, model: str, metric: str) -> list[str]:
    """The table row of one metric, split on whitespace (the model name only on its first row)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{model} "))
    for line in lines[start:]:
        cells = line.split()
        if metric in cells[:2]:
            return cells[cells.index(metric) :]
    raise AssertionError(f"no {model} {metric} row in:\n{stdout}")


def short(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", ref).strip()[:12]


# --- 1 and 6: a regression, then the same base from the cache -----------------------


def test_widened_layer_regresses_and_the_second_run_uses_the_cache(repo: Path, tmp_path: Path) -> None:
    widen_on_feature(repo)
    before = snapshot(repo)
    report = tmp_path / "report.md"

    started = time.monotonic()
    first = run_cli("check", "--base", "main", "--markdown", str(report), cwd=repo)
    first_s = time.monotonic() - started
    assert first.returncode == 1, first.stderr
    assert f"measuring the base main (merge-base {short(repo, 'main')}) in a temporary worktree" in first.stderr
    assert "flopguard FAILED: 1 regressed, 2 ok" in first.stdout
    assert f"base main {short(repo, 'main')} → head feature {short(repo, 'HEAD')}" in first.stdout
    macs = row(first.stdout, "classifier", "macs")
    assert macs[0] == "macs" and macs[-1] == "regressed" and macs[3].startswith("+"), macs
    assert row(first.stdout, "tiny_gpt", "macs")[-1] == "ok"
    markdown = report.read_text()
    assert "🔺 regressed" in markdown and f"base main {short(repo, 'main')}" in markdown
    assert snapshot(repo) == before

    started = time.monotonic()
    second = run_cli("check", "--base", "main", cwd=repo)
    second_s = time.monotonic() - started
    assert second.returncode == 1
    assert f"base results from cache ({short(repo, 'main')})" in second.stderr
    assert "measuring the base" not in second.stderr
    assert row(second.stdout, "classifier", "macs") == macs
    assert second_s < first_s, (first_s, second_s)
    assert snapshot(repo) == before  # the cache lives in the git dir, not the working tree
    assert list((repo / ".git" / "flopguard" / "cache").glob("*.json"))


def test_pytest_fails_the_widened_item(repo: Path) -> None:
    widen_on_feature(repo)
    before = snapshot(repo)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--flopguard", "--flopguard-base", "main"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert re.search(r"flopguard\.yaml::classifier FAILED", out), out
    assert re.search(r"flopguard\.yaml::tiny_gpt PASSED", out), out
    assert re.search(r"macs regressed: \S+ -> \S+, \+\S+ \(\+[\d.]+%\), tolerance 0%", out), out
    assert f"base main {short(repo, 'main')} → head feature" in out
    assert snapshot(repo) == before


# --- 2: no change; new, removed and a relaxed budget ---------------------------------


def test_unchanged_models_pass_on_a_dirty_tree_left_as_it_was(repo: Path) -> None:
    (repo / "notes.txt").write_text("stashed\n")
    git(repo, "stash", "push", "-q", "--include-untracked", "-m", "work in progress")
    edit(repo / "flopguard.yaml", ("# Budgets", "# The budgets"))  # unstaged, figures unchanged
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "scratch.txt").write_text("untracked\n")
    before = snapshot(repo)
    contents = {p: p.read_bytes() for p in (repo / "flopguard.yaml", repo / "staged.txt", repo / "scratch.txt")}

    proc = run_cli("check", "--base", "main", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "flopguard passed: 3 ok (head has uncommitted changes)" in proc.stdout
    assert "→ head main" in proc.stdout and "(uncommitted changes)" in proc.stdout
    assert snapshot(repo) == before
    assert {p: p.read_bytes() for p in contents} == contents
    assert "work in progress" in before["stash"]


def test_new_removed_and_relaxed_limits_are_shown(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(
        repo / "flopguard.yaml",
        ("tiny_gpt:", "gpt:"),
        ("tolerance: {memory_access: 0.5%}", "tolerance: {memory_access: 5%}"),
        ("flops: 600M\n      params: 1M\n", "flops: 900M\n"),
    )
    commit_all(repo, "rename the gpt, loosen the classifier")
    report = tmp_path / "report.md"
    proc = run_cli("check", "--base", "main", "--markdown", str(report), cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "flopguard passed: 1 new, 1 removed, 2 ok" in proc.stdout
    assert row(proc.stdout, "gpt", "macs")[-1] == "new"
    assert row(proc.stdout, "tiny_gpt", "macs")[-1] == "removed"
    lines = proc.stdout.splitlines()
    assert lines[2] == "⚠️  BUDGET RELAXED by this change (4): review before merging"
    assert lines[3:7] == [
        "  ⚠️  classifier: flops limit 600M → 900M",
        "  ⚠️  classifier: params limit 1M → none",
        "  ⚠️  classifier: memory_access tolerance 0.5% → 5%",
        "  ⚠️  detector: memory_access tolerance 0.5% → 5%",  # the default covers every model
    ]
    markdown = report.read_text()
    assert "### ⚠️ budget relaxed" in markdown
    assert "| classifier | flops | limit | 600M | ⚠️ 900M |" in markdown
    assert "⚠️ was 600M" in markdown
    for text in (proc.stdout, markdown):
        assert "+100%" not in text and "-100%" not in text


# --- 3: the worktree goes away whatever happens ---------------------------------------


@pytest.mark.parametrize(
    ("broken", "code", "message"),
    [
        ("def build_classifier(*args, **kwargs):\n    raise RuntimeError('broken on main')\n", 0, "broken on main"),
        # The base's model runs in a worker process: its death is that model's status, not the base run's.
        ("import os\nos._exit(3)\n", 0, "base could not be measured (Crashed: crashed (exit 3)"),
    ],
    ids=["model-raises", "process-dies"],
)
def test_failures_in_the_base_leave_no_worktree(repo: Path, broken: str, code: int, message: str) -> None:
    vision = repo / "models" / "vision.py"
    good = vision.read_text()
    vision.write_text(good + "\n\n" + broken)
    commit_all(repo, "break the classifier")
    git(repo, "checkout", "-q", "-b", "feature")
    vision.write_text(good)
    commit_all(repo, "fix it")
    before = snapshot(repo)
    proc = run_cli("check", "--base", "main", "--model", "classifier", cwd=repo)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr
    assert snapshot(repo) == before and only_main_worktree(repo)
    assert not (repo / ".git" / "flopguard" / "cache").exists()  # a failed base is not cached


def test_sigterm_during_the_base_measurement_removes_the_worktree(repo: Path, tmp_path: Path) -> None:
    vision = repo / "models" / "vision.py"
    good = vision.read_text()
    slow = good.replace(
        "    return Classifier(width, num_classes)",
        "    import os, pathlib, time\n"
        "    pathlib.Path(os.environ['FG_TEST_PIDFILE']).write_text(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "    return Classifier(width, num_classes)",
    )
    vision.write_text(slow)
    commit_all(repo, "a slow factory on main")
    widen_on_feature(repo)
    before = snapshot(repo)
    temp, pidfile = tmp_path / "tmp", tmp_path / "child.pid"
    temp.mkdir()
    env = {**os.environ, "CI": "true", "TMPDIR": str(temp), "FG_TEST_PIDFILE": str(pidfile)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_flopguard.cli", "check", "--base", "main"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not pidfile.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert pidfile.exists(), proc.communicate()
        assert not only_main_worktree(repo)  # the base worktree exists while it is measured
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "terminated while measuring the base" in stderr
    assert only_main_worktree(repo) and snapshot(repo) == before
    assert [p for p in temp.iterdir() if not p.name.startswith("torchinductor_")] == []  # torch's cache is not ours
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the base process outlived the run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- 4: shallow clones and refs that are not refs ---------------------------------------


def test_shallow_clones_exit_2_and_name_the_fix(repo: Path, tmp_path: Path) -> None:
    widen_on_feature(repo)
    single = tmp_path / "single"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(single))
    both = tmp_path / "both"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{repo}", str(both))
    for clone, ref in ((single, "main"), (single, "origin/main"), (both, "origin/main")):
        before = snapshot(clone)
        proc = run_cli("check", "--base", ref, cwd=clone)
        assert proc.returncode == 2, (clone, ref, proc.stdout, proc.stderr)
        assert "shallow clone" in proc.stderr and "[FG403]" in proc.stderr
        assert "fix: fetch the history: with actions/checkout set `fetch-depth: 0`" in proc.stderr
        assert "git fetch --unshallow" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert snapshot(clone) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--base=--output=x"], "base ref '--output=x' is not a git ref (it looks like an option) [FG401]"),
        (["--base=-h"], "base ref '-h' is not a git ref (it looks like an option) [FG401]"),
        (["--base", "--output=x"], "argument --base: expected one argument"),
        (["--base", "no-such-branch"], "base ref 'no-such-branch' is not a commit in this repository [FG402]"),
    ],
)
def test_refs_that_are_not_refs_exit_2_and_create_nothing(repo: Path, args: list[str], expected: str) -> None:
    before = snapshot(repo)
    listing = sorted(p.name for p in repo.iterdir())
    proc = run_cli("check", *args, cwd=repo)
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(repo) == before and sorted(p.name for p in repo.iterdir()) == listing
    assert not (repo / ".git" / "flopguard").exists()


def test_pytest_refuses_an_option_like_base(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flopguard", "--flopguard-base=-h"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "base ref '-h' is not a git ref (it looks like an option) [FG401]" in proc.stderr
    assert only_main_worktree(repo)


# --- 5: the head package installed editable ---------------------------------------------


MLP = """import torch


def build(width: int = {width}) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(16, width), torch.nn.ReLU(), torch.nn.Linear(width, 4))
"""


@pytest.fixture
def src_layout(tmp_path: Path) -> Path:
    """A src-layout package, `main` with width 8 and `feature` with width 12."""
    root = tmp_path / "proj"
    package = root / "src" / "fgnets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(MLP.format(width=8))
    (root / ".gitignore").write_text("__pycache__/\n")
    (root / "flopguard.yaml").write_text(
        "version: 1\nmodels:\n  mlp:\n    model: fgnets.nets:build\n    inputs: [[1, 16]]\n"
    )
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "an mlp")
    git(root, "checkout", "-q", "-b", "feature")
    (package / "nets.py").write_text(MLP.format(width=12))
    commit_all(root, "wider mlp")
    return root


def run_with_path(root: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [sys.executable, "-m", "pytest_flopguard.cli", "check", "--base", "main"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_editable_install_of_the_head_does_not_shadow_the_base(src_layout: Path) -> None:
    # An editable install puts the head checkout's src/ on every process's path
    # (a .pth entry); PYTHONPATH does the same here without touching the venv.
    proc = run_with_path(src_layout, src_layout / "src")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # 16*8 + 8*4 = 160 MACs at the base; 16*12 + 12*4 = 240 at the head
    assert row(proc.stdout, "mlp", "macs") == ["macs", "160", "240", "+80", "(+50%)", "regressed"]
    assert only_main_worktree(src_layout)


def test_a_head_copy_installed_elsewhere_is_flagged(src_layout: Path, tmp_path: Path) -> None:
    # A regular install of the head (site-packages) is outside both checkouts;
    # the base checkout has its own src/fgnets, so importing the other is an error.
    site = tmp_path / "site"
    shutil.copytree(src_layout / "src" / "fgnets", site / "fgnets")
    proc = run_with_path(src_layout, site)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "flopguard FAILED: 1 error" in proc.stdout
    assert f"module 'fgnets.nets' was imported from {site.resolve() / 'fgnets' / 'nets.py'}" in proc.stdout
    assert "outside the base checkout: the base would measure the head's code" in proc.stdout
    assert "[FG410]" in proc.stdout and "`PYTHONPATH=src`" in proc.stdout
    assert only_main_worktree(src_layout)


# --- GitHub Actions: a pull_request's detached merge commit --------------------------------


def test_pull_request_merge_commit_diffs_against_its_base(repo: Path, tmp_path: Path) -> None:
    widen_on_feature(repo)
    clone = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", f"file://{repo}", str(clone))  # actions/checkout with fetch-depth: 0
    git(clone, "checkout", "-q", "--detach", "origin/main")
    git(clone, "merge", "-q", "--no-ff", "--no-edit", "origin/feature")  # refs/pull/N/merge
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"
    env = {**os.environ, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}
    env.pop("GITHUB_EVENT_PATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_flopguard.cli", "check", "--model", "classifier"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pull request: diffing against its base origin/main" in proc.stderr
    assert f"(merge-base {short(clone, 'origin/main')})" in proc.stderr
    assert row(proc.stdout, "classifier", "macs")[-1] == "regressed"
    assert only_main_worktree(clone)


# --- pure helpers ------------------------------------------------------------------------


def test_default_ref_prefers_the_event_base_sha(tmp_path: Path) -> None:
    sha = "a" * 40
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"base": {"sha": sha, "ref": "main"}}}))
    pr = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}
    assert default_ref({**pr, "GITHUB_EVENT_PATH": str(event)}) == sha
    assert default_ref(pr) == "origin/main"
    assert default_ref({**pr, "GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}) == "origin/main"
    assert default_ref({"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": ""}) is None  # a push, not a PR
    assert default_ref({"GITHUB_BASE_REF": "main"}) is None  # not in Actions
    event.write_text(json.dumps({"pull_request": {"base": {"sha": "--output=x"}}}))
    assert default_ref({**pr, "GITHUB_EVENT_PATH": str(event)}) == "origin/main"


def test_cache_key_depends_on_commit_budget_and_models() -> None:
    key = cache_key("a" * 40, Path("flopguard.yaml"), None)
    assert key == cache_key("a" * 40, Path("flopguard.yaml"), None)
    assert key != cache_key("b" * 40, Path("flopguard.yaml"), None)
    assert key != cache_key("a" * 40, Path("sub/flopguard.yaml"), None)
    assert key != cache_key("a" * 40, Path("flopguard.yaml"), ["classifier"])
    assert cache_key("a" * 40, Path("f"), ["x", "y"]) == cache_key("a" * 40, Path("f"), ["y", "x"])


def test_a_checkout_that_git_refuses_exits_2_with_the_reason(repo: Path) -> None:
    """A required filter that fails (as a broken Git LFS setup does) stops the worktree checkout."""
    (repo / ".gitattributes").write_text("*.bin filter=broken\n")
    (repo / "weights.bin").write_bytes(b"\x00" * 16)
    commit_all(repo, "weights behind a filter")
    widen_on_feature(repo)
    git(repo, "config", "filter.broken.clean", "cat")
    git(repo, "config", "filter.broken.smudge", "false")  # from now on every checkout of weights.bin fails
    git(repo, "config", "filter.broken.required", "true")
    before = snapshot(repo)
    proc = run_cli("check", "--base", "main", cwd=repo)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "git could not check out the base" in proc.stderr and "[FG409]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert only_main_worktree(repo) and snapshot(repo) == before
