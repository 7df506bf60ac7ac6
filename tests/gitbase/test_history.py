"""The history branch: written with plumbing, never touching the user's checkout; racing
recorders lose nothing; read back oldest first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flopguard.gitbase.history import BRANCH, Entry, commit_facts, read, record


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "flopguard.yaml").write_text("version: 1\nmodels: {}\n")
    git(path, "add", "flopguard.yaml")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    return path


def entry(n: int, flops: float = 1e9, writer: str = "a") -> Entry:
    commit = f"{n:08x}{writer * 32}"[:40]
    return Entry(commit, 1_700_000_000 + n, {"net": {"flops": flops, "params": 10.0}}, ancestors=n)


def test_record_and_read_leave_the_checkout_as_it_was(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "flopguard.yaml").write_text("version: 1\nmodels: {}\n# edited, not staged\n")
    (repo / "staged.txt").write_text("x")
    git(repo, "add", "staged.txt")
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "symbolic-ref", "HEAD"))
    index = (repo / ".git" / "index").read_bytes()
    record(repo, "flopguard.yaml", entry(2, 2e9))
    record(repo, "flopguard.yaml", entry(1, 1e9))
    after = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "symbolic-ref", "HEAD"))
    assert after == before and (repo / ".git" / "index").read_bytes() == index
    history = read(repo, "flopguard.yaml")
    assert [e.figures["net"]["flops"] for e in history.entries] == [1e9, 2e9]  # oldest first
    assert history.skipped == []
    assert git(repo, "log", "--format=%an %s", BRANCH).splitlines()[0].startswith("flopguard flopguard: record ")
    assert read(repo, "packages/text/flopguard.yaml").entries == []  # another budget's history is its own


def test_recording_a_commit_again_replaces_its_entry(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    record(repo, "flopguard.yaml", entry(1, 1e9))
    record(repo, "flopguard.yaml", entry(1, 3e9))
    assert [e.figures["net"]["flops"] for e in read(repo, "flopguard.yaml").entries] == [3e9]


def test_a_file_that_is_not_an_entry_is_skipped_and_named(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    record(repo, "flopguard.yaml", entry(1))
    bad = Entry(commit="f" * 40, timestamp=1_700_000_009, figures={}, ancestors=9)
    record(repo, "flopguard.yaml", bad)
    # Overwrite the second entry's file with text that is not an entry, through the same plumbing.
    tip = git(repo, "rev-parse", BRANCH).strip()
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input='{"models": "no"}', capture_output=True, text=True
    ).stdout.strip()
    env = {"GIT_INDEX_FILE": str(tmp_path / "idx")}
    import os

    full = {**os.environ, **env}
    subprocess.run(["git", "read-tree", tip], cwd=repo, env=full, check=True)
    name = f"flopguard.yaml/0000000009-{'f' * 40}.json"
    subprocess.run(["git", "update-index", "--cacheinfo", f"100644,{blob},{name}"], cwd=repo, env=full, check=True)
    tree = subprocess.run(["git", "write-tree"], cwd=repo, env=full, capture_output=True, text=True).stdout.strip()
    commit = git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree, "-p", tip, "-m", "x").strip()
    git(repo, "update-ref", f"refs/heads/{BRANCH}", commit)
    history = read(repo, "flopguard.yaml")
    assert len(history.entries) == 1 and history.skipped == [name]


RACER = """
import sys
from pathlib import Path
from pytest_flopguard.gitbase.history import Entry, record
root, writer = Path(sys.argv[1]), sys.argv[2]
for n in range(20):
    commit = (f"{n:08x}" + writer * 32)[:40]
    record(root, "flopguard.yaml", Entry(commit, 1_700_000_000 + n, {"net": {"flops": float(n)}}, ancestors=n))
"""


@pytest.mark.slow
@pytest.mark.parametrize("with_remote", [True, False], ids=["pushed to origin", "local branch"])
def test_two_recorders_racing_twenty_times_lose_nothing(tmp_path: Path, with_remote: bool) -> None:
    origin = make_repo(tmp_path / "origin")
    if with_remote:
        bare = tmp_path / "origin.git"
        git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
        clones = [tmp_path / "a", tmp_path / "b"]
        for clone in clones:
            git(tmp_path, "clone", "-q", str(bare), str(clone))
    else:
        clones = [origin, origin]  # two processes, one repository: update-ref's compare-and-swap
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(clone), writer], stderr=subprocess.PIPE, text=True)
        for clone, writer in zip(clones, "ab", strict=True)
    ]
    for racer in racers:
        _, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err
    reader = tmp_path / "reader"
    if with_remote:
        git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(reader))
    history = read(reader if with_remote else origin, "flopguard.yaml")
    assert history.skipped == []
    assert len(history.entries) == 40
    assert {e.commit[8] for e in history.entries} == {"a", "b"}
    assert [e.timestamp for e in history.entries] == sorted(e.timestamp for e in history.entries)


def test_commit_facts_give_the_date_and_tags(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "tag", "v1.2")
    head = git(repo, "rev-parse", "HEAD").strip()
    timestamp, tags, ancestors = commit_facts(repo, head)
    assert (tags, ancestors) == (("v1.2",), 1)
    assert timestamp == int(git(repo, "show", "-s", "--format=%ct", "HEAD"))
    assert json.loads(json.dumps(Entry(head, timestamp, {}, ancestors, tags).to_json()))["tags"] == ["v1.2"]


def test_a_fetch_that_fails_keeps_the_copy_here_and_says_so(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    record(clone, "flopguard.yaml", entry(1))
    assert len(read(clone, "flopguard.yaml").entries) == 1
    bare.rename(tmp_path / "unreachable.git")  # the network is down, the credentials are gone
    history = read(clone, "flopguard.yaml")
    assert len(history.entries) == 1, "the history fetched before is still read"
    (warning,) = history.warnings
    assert warning.startswith("could not fetch the flopguard-history branch from origin (")
    (tmp_path / "unreachable.git").rename(bare)
    git(bare, "update-ref", "-d", f"refs/heads/{BRANCH}")  # reached, and the branch is gone there
    assert read(clone, "flopguard.yaml").warnings == []  # no failure: origin has no history
    gone = subprocess.run(["git", "rev-parse", "-q", "--verify", f"refs/remotes/origin/{BRANCH}"], cwd=clone)
    assert gone.returncode != 0, "the tracking copy of a deleted branch goes too"


def test_a_shallow_clone_is_not_recorded(tmp_path: Path) -> None:
    from pytest_flopguard.errors import FlopguardError

    origin = make_repo(tmp_path / "origin")
    git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "second")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(shallow))
    with pytest.raises(FlopguardError, match=r"shallow clone.*\[FG715\]"):
        commit_facts(shallow, git(shallow, "rev-parse", "HEAD").strip())
