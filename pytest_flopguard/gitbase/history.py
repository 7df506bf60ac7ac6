"""The results history, kept in the repository itself on the `flopguard-history` branch.

`flopguard record` (on the default branch) appends one entry per recorded
commit: the deterministic figures of every model, with the commit, its date
and tags. `flopguard check` reads the entries to judge drift and the ratchet.

One file per recorded commit, `<budget path>/<ancestors>-<commit>.json`:
concurrent recorders never edit the same file, so a recorder that loses the
race re-applies the same addition on the new tip, with nothing to merge. The
names sort in history order: a commit has more ancestors than any commit
before it on the branch (commit dates have one-second steps and can tie).
Reading a whole history is one `git ls-tree` and one `git cat-file --batch`.
Recording the same commit again replaces its file.

Written with plumbing only (`hash-object`, a temporary index, `write-tree`,
`commit-tree`, `update-ref`/`push`): the user's working tree, index and
current branch are never touched. With an `origin` remote the branch is
fetched, appended to and pushed, retried on a non-fast-forward; without one,
the local branch is updated with a compare-and-swap `update-ref`, retried
the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopguard.errors import FlopguardError

BRANCH = "flopguard-history"
LOCAL = f"refs/heads/{BRANCH}"
TRACKING = f"refs/remotes/origin/{BRANCH}"
SCHEMA = 1
ATTEMPTS = 20
# What git says when another push moved the branch first (`LC_ALL=C`): a protection rule's
# refusal (`[remote rejected] ... (protected branch hook declined)`) is not among them.
_LOST_RACE = ("! [rejected]", "(non-fast-forward)", "(fetch first)", "(failed to update ref)", "cannot lock ref")
_NAME = re.compile(r"^(\d{10})-([0-9a-f]{40})\.json$")  # ancestors, commit
_IDENTITY = {  # history commits are the tool's, whoever runs it (CI has no user.name)
    "GIT_AUTHOR_NAME": "flopguard",
    "GIT_AUTHOR_EMAIL": "flopguard@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "flopguard",
    "GIT_COMMITTER_EMAIL": "flopguard@users.noreply.github.com",
}


@dataclass(frozen=True)
class Entry:
    """One recorded commit: model -> deterministic metric key -> figure."""

    commit: str
    timestamp: int  # the recorded commit's committer date, seconds since the epoch
    figures: Mapping[str, Mapping[str, float]]
    ancestors: int = 0  # how many commits it has in its history: orders the entries
    tags: tuple[str, ...] = ()
    tool_version: str = ""
    convention: str = ""

    @property
    def label(self) -> str:
        """How the reports name it: its first tag, else its short SHA."""
        return self.tags[0] if self.tags else self.commit[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "commit": self.commit,
            "timestamp": self.timestamp,
            "ancestors": self.ancestors,
            "tags": list(self.tags),
            "tool_version": self.tool_version,
            "convention": self.convention,
            "models": {name: dict(metrics) for name, metrics in sorted(self.figures.items())},
        }


@dataclass
class History:
    """The entries of one budget, oldest first; `skipped` names files that were not entries,
    `warnings` what went wrong reading them (a fetch that failed: the copy already here is read)."""

    entries: list[Entry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def record(root: Path, budget_key: str, entry: Entry, attempts: int = ATTEMPTS) -> str:
    """Add `entry` to the history branch (pushed when there is an `origin`); the new tip."""
    blob = _git(root, "hash-object", "-w", "--stdin", input=json.dumps(entry.to_json(), sort_keys=True)).strip()
    path = f"{budget_key}/{entry.ancestors:010d}-{entry.commit}.json"
    remote = _has_origin(root)
    for _ in range(attempts):
        failed = _fetch_failed(root) if remote else None
        if failed:
            raise FlopguardError(
                "FG711",
                f"cannot fetch origin's {BRANCH} branch to add to it: {failed}",
                fix="the job needs to reach origin with its credentials (actions/checkout keeps them by default)",
            )
        tip = _rev(root, TRACKING) if remote else _rev(root, LOCAL)
        commit = _commit_with(root, tip, path, blob, f"flopguard: record {entry.commit[:12]} ({budget_key})")
        if _publish(root, commit, tip, remote):
            return commit
    raise FlopguardError(
        "FG710",
        f"could not add to the {BRANCH} branch: {attempts} other recorders got there first",
        fix="run `flopguard record` again; if it keeps failing, check that the job may push to the repository",
    )


def read(root: Path, budget_key: str, fetch: bool = True) -> History:
    """The history of `budget_key`, oldest first: the remote's branch if there is one, else the local one.

    `fetch=False`: only what is here (an xdist worker reads what its controller fetched).
    """
    history = History()
    if fetch and _has_origin(root):
        failed = _fetch_failed(root)
        if failed:
            history.warnings.append(
                f"could not fetch the {BRANCH} branch from origin ({failed}); reading the copy here"
            )
    ref = _rev(root, TRACKING) or _rev(root, LOCAL)
    if ref is None:
        return history
    listing = _git(root, "ls-tree", "-r", "--full-tree", ref, "--", f"{budget_key}/")
    files = []
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        name = path.rsplit("/", 1)[-1]
        if path.rsplit("/", 1)[0] != budget_key or not _NAME.match(name):
            history.skipped.append(path)
            continue
        files.append((name, meta.split()[2], path))
    files.sort()
    texts = _blobs(root, [sha for _, sha, _ in files])
    for (_, _, path), text in zip(files, texts, strict=True):
        parsed = _entry(text)
        if parsed is None:
            history.skipped.append(path)
        else:
            history.entries.append(parsed)
    return history


def resolve(root: Path, ref: str) -> str | None:
    """The commit a tag or SHA names in the repository (a `since:` tagged after it was recorded)."""
    done = _run(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    return done.stdout.strip() if done.returncode == 0 else None


def commit_facts(root: Path, commit: str) -> tuple[int, tuple[str, ...], int]:
    """A commit's committer date (epoch seconds), the tags that point at it, and its number of ancestors
    (which orders the history: a shallow clone, where it would be wrong, is refused)."""
    if _git(root, "rev-parse", "--is-shallow-repository").strip() == "true":
        raise FlopguardError(
            "FG715",
            "the repository is a shallow clone, so the commit's place in the history cannot be known",
            fix="check out the whole history before recording (actions/checkout: `fetch-depth: 0`)",
        )
    timestamp = int(_git(root, "show", "-s", "--format=%ct", commit).strip())
    tags = _git(root, "tag", "--points-at", commit).split()
    ancestors = int(_git(root, "rev-list", "--count", commit).strip())
    return timestamp, tuple(sorted(tags)), ancestors


# --- writing ---------------------------------------------------------------------------


def _commit_with(root: Path, tip: str | None, path: str, blob: str, message: str) -> str:
    """A commit of `tip`'s tree plus `path` = `blob`, built in a temporary index."""
    with tempfile.TemporaryDirectory(prefix="flopguard-history-") as folder:
        env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        _git(root, "read-tree", *([tip] if tip else ["--empty"]), env=env)
        _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = _git(root, "write-tree", env=env).strip()
    parents = ["-p", tip] if tip else []
    return _git(root, "commit-tree", tree, *parents, "-m", message, env=_IDENTITY).strip()


def _publish(root: Path, commit: str, tip: str | None, remote: bool) -> bool:
    """Move the branch to `commit` if it is still at `tip`; False: someone else moved it first."""
    if remote:
        pushed = _run(root, "push", "-q", "origin", f"{commit}:{LOCAL}")
        if pushed.returncode != 0:
            lost_race = any(sign in pushed.stderr for sign in _LOST_RACE)
            if lost_race:  # another recorder moved the branch first: build on its tip
                return False
            raise FlopguardError(
                "FG711",
                f"git push to origin's {BRANCH} branch failed: {pushed.stderr.strip()[:300]}",
                fix="the job needs `contents: write` permission (GitHub Actions: `permissions: contents: write`) "
                "and runs on a push to the default branch, never on a pull request from a fork",
            )
        _run(root, "update-ref", TRACKING, commit)
        _run(root, "update-ref", LOCAL, commit)  # keep a local copy, for reading without a remote
        return True
    old = tip or "0" * 40
    return _run(root, "update-ref", LOCAL, commit, old).returncode == 0


# --- reading ---------------------------------------------------------------------------


def _fetch_failed(root: Path) -> str | None:
    """Fetch origin's history branch into the tracking ref; why it failed, or None.

    A branch origin does not have (yet, or any more) is no failure: the tracking ref goes.
    A fetch that fails for any other reason (network, credentials) keeps the copy here.
    """
    done = _run(root, "fetch", "-q", "--no-tags", "origin", f"+{LOCAL}:{TRACKING}")
    if done.returncode == 0:
        return None
    if _run(root, "ls-remote", "--exit-code", "origin", LOCAL).returncode == 2:  # reached, no such branch
        _run(root, "update-ref", "-d", TRACKING)
        return None
    return done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else f"exit {done.returncode}"


def _blobs(root: Path, shas: Sequence[str]) -> list[str]:
    if not shas:
        return []
    done = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=root,
        input=("\n".join(shas) + "\n").encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise FlopguardError(
            "FG712",
            f"git cat-file failed reading the {BRANCH} branch: {done.stderr.decode(errors='replace').strip()[:300]}",
            fix="check the repository with `git fsck`",
        )
    out, texts, at = done.stdout, [], 0
    for _ in shas:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        texts.append(out[header_end + 1 : header_end + 1 + size].decode("utf-8", "replace"))
        at = header_end + 1 + size + 1
    return texts


def _entry(text: str) -> Entry | None:
    """An entry as data: any field of the wrong type makes the file no entry (listed as skipped)."""
    try:
        data = json.loads(text)
        models = data["models"]
        figures = {
            str(name): {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
            for name, metrics in models.items()
            if isinstance(metrics, dict)
        }
        commit, timestamp = data["commit"], data["timestamp"]
        if data.get("schema") != SCHEMA or not isinstance(commit, str) or not isinstance(timestamp, int):
            return None
        tags = tuple(t for t in data.get("tags", []) if isinstance(t, str))
        ancestors = data.get("ancestors", 0) if isinstance(data.get("ancestors", 0), int) else 0
        return Entry(
            commit,
            timestamp,
            figures,
            ancestors,
            tags,
            str(data.get("tool_version", "")),
            str(data.get("convention", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# --- git -------------------------------------------------------------------------------


def _has_origin(root: Path) -> bool:
    return _run(root, "remote", "get-url", "origin").returncode == 0


def _rev(root: Path, ref: str) -> str | None:
    done = _run(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    return done.stdout.strip() if done.returncode == 0 else None


def _run(
    root: Path, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=root,
        input=input,
        capture_output=True,
        text=True,
        check=False,
        # Never wait for a password or a passphrase; messages in English, which `_publish` reads.
        env={
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "LC_ALL": "C",
            **(env or {}),
        },
    )


def _git(root: Path, *args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> str:
    done = _run(root, *args, input=input, env=env)
    if done.returncode != 0:
        raise FlopguardError(
            "FG712",
            f"git {args[0]} failed while using the {BRANCH} branch: {done.stderr.strip()[:300]}",
            fix="run it in a git repository with at least one commit",
        )
    return done.stdout
