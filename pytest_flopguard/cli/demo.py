"""`flopguard demo`: the whole product in one command, on a scratch repository.

It copies `example_repo/` into a temporary folder and commits it on `main` in
three steps, the classifier a little wider each time, each recorded in the
results history (`flopguard record`, as CI does on a merge), makes a branch that
widens one stage of the CNN — the kind of one-line change that slips through
review — and runs the gate exactly as CI would:
`flopguard check --base main --markdown REPORT`. The base is measured in a
throwaway worktree, the table names what grew and which layers did it, and
the Markdown report is the pull request comment. Exit 0 when the gate caught
the regression (the demo worked), non-zero otherwise.

    $ flopguard demo                 # scratch repository removed afterwards
    $ flopguard demo --keep /tmp/fg  # ... or kept there to explore (git log, flopguard explain)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_flopguard.errors import FlopguardError

Say = Callable[[str], None]
# In an installed wheel the build put a copy in the package (setup.py); in a clone it is beside it.
PACKAGED = Path(__file__).resolve().parents[1] / "example_repo"
EXAMPLE = PACKAGED if PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "example_repo"
BRANCH = "widen-stage2"
# main's history: the classifier's width in the budget, one recorded commit each (the last is example_repo's).
HISTORY = (28, 30, 32)
WIDTH = "kwargs: {width: 32, num_classes: 10}"
# The change under review: stage2 gets 3x instead of 2x the stem's channels.
CHANGE = (
    "models/vision.py",
    (
        ("self.stage2 = BasicBlock(width, 2 * width, 2)", "self.stage2 = BasicBlock(width, 3 * width, 2)"),
        ("self.stage3 = BasicBlock(2 * width, 4 * width, 2)", "self.stage3 = BasicBlock(3 * width, 4 * width, 2)"),
    ),
)
_GIT_CONFIG = (
    "-c", "user.name=flopguard demo", "-c", "user.email=demo@example.invalid",
    "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null",
)  # fmt: skip


def run_demo(keep: str | None, report: str, say: Say) -> int:
    """Build the scratch repository, run the gate on the change, say what happened."""
    example = _example()
    report_path = Path(report).resolve()
    report_path.unlink(missing_ok=True)  # a report from an earlier run must not pass for this one's
    with _scratch(keep) as folder:
        repo = folder / "example_repo"
        _build(example, repo, say)
        code = _gate(repo, report_path, say)
        where = f"kept at {repo}" if keep else "removed (keep it with --keep DIR)"
        return _verdict(code, report_path, where, say)


def _example() -> Path:
    if not (EXAMPLE / "flopguard.yaml").is_file():
        raise FlopguardError(
            "FG630",
            f"the demo needs example_repo/, and neither {PACKAGED} nor {EXAMPLE} has it",
            fix="reinstall pytest-flopguard from a wheel or an sdist built by setup.py, or `pip install -e .` in a clone",
        )
    return EXAMPLE


@contextmanager
def _scratch(keep: str | None) -> Iterator[Path]:
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="flopguard-demo-") as tmp:
            yield Path(tmp)
        return
    folder = Path(keep).resolve()
    if (folder / "example_repo").exists():
        raise FlopguardError(
            "FG631", f"{folder / 'example_repo'} already exists", fix="pass a new or empty folder to --keep"
        )
    folder.mkdir(parents=True, exist_ok=True)
    yield folder


def _build(example: Path, repo: Path, say: Say) -> None:
    shutil.copytree(example, repo, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "flopguard-report.md"))
    (repo / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")  # whatever init.defaultBranch says
    say(f"flopguard demo: a scratch git repository made from example_repo, in {repo}")
    budget = repo / "flopguard.yaml"
    final = budget.read_text(encoding="utf-8")
    for i, width in enumerate(HISTORY):
        _edit(budget, ((WIDTH, WIDTH.replace("32", str(width))),), final)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"Classifier width {width}" if i else "Models and their budget")
        _record(repo)
        say(f"  main          {_git(repo, 'rev-parse', '--short', 'HEAD')}  classifier width {width}, recorded")
    _git(repo, "checkout", "-q", "-b", BRANCH)
    path, edits = CHANGE
    _edit(repo / path, edits)
    _git(repo, "commit", "-q", "-am", "Widen stage2 of the classifier")
    say(f"  {BRANCH}  {_git(repo, 'rev-parse', '--short', 'HEAD')}  the change under review, in {path}:")
    for old, new in edits:
        say(f"      - {old}\n      + {new}")


def _edit(path: Path, edits: tuple[tuple[str, str], ...], text: str | None = None) -> None:
    text = path.read_text(encoding="utf-8") if text is None else text
    for old, new in edits:
        if old not in text:
            raise FlopguardError(
                "FG632",
                f"example_repo/{path.name} no longer contains {old!r}, so the demo's change does not apply",
                fix="update CHANGE in pytest_flopguard/cli/demo.py to match example_repo",
            )
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def _record(repo: Path) -> None:
    """The classifier's figures into the scratch repository's history branch, as CI records a merge."""
    command = [sys.executable, "-m", "pytest_flopguard.cli", "record", "--model", "classifier", "--in-process"]
    done = subprocess.run(command, cwd=repo, env=_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FlopguardError(
            "FG633", f"flopguard record failed in the scratch repository: {done.stderr.strip()[-500:]}", fix="run it there"
        )


def _env() -> dict[str, str]:
    """Not a GitHub Actions pull request, whatever runs the demo."""
    drop = ("GITHUB_ACTIONS", "GITHUB_BASE_REF", "GITHUB_EVENT_NAME")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _gate(repo: Path, report: Path, say: Say) -> int:
    argv = ["check", "--base", "main", "--markdown", str(report)]
    say(f"\n$ flopguard {' '.join(argv)}")
    command = [sys.executable, "-m", "pytest_flopguard.cli", *argv]
    sys.stdout.flush()
    return subprocess.run(command, cwd=repo, env=_env(), check=False).returncode


def _verdict(code: int, report: Path, where: str, say: Say) -> int:
    say("")
    if code == 1 and _regressed(report):
        say("flopguard demo: the gate caught the regression: `flopguard check` exited 1, failing the CI job.")
        say("  The table names each metric that grew and, for the model, the modules that grew most.")
        say(f"  Markdown report (the pull request comment): {report}")
        say(f"  Scratch repository: {where}")
        return 0
    say(f"flopguard demo: the change was NOT caught as expected (`flopguard check` exited {code}); see above.")
    return code or 1


def _regressed(report: Path) -> bool:
    """The report says a model regressed: exit 1 alone could also be a crash."""
    try:
        return "regressed" in report.read_text(encoding="utf-8")
    except OSError:
        return False


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *_GIT_CONFIG, *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        done = subprocess.CompletedProcess(args, 127, "", "git is not installed")
    if done.returncode != 0:
        raise FlopguardError(
            "FG633",
            f"git {' '.join(args)} failed in the scratch repository: {done.stderr.strip()}",
            fix="install git 2.x and make sure it runs",
        )
    return done.stdout.strip()
