"""The results history: reading 200 models x 500 recorded commits, and adding one more.

Our layout (`gitbase/history.py`): one file per recorded commit on the
`flopguard-history` branch, read with one `git ls-tree` and one
`git cat-file --batch`. Beside it, in the same run, the layout of
github-action-benchmark's data branch: one file holding every entry (its
`data.js`), read with one `git cat-file blob` and one parse; its writes
rewrite the whole file, so two writers conflict on every append.

    python benchmarks/history.py [--models 200] [--commits 500]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from pytest_flopguard.gitbase.history import LOCAL, Entry, read, record

METRICS = ("macs", "flops", "flops_other", "params", "memory_access", "peak_memory")


def git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, check=True)
    return done.stdout.decode()


def entry(n: int, models: int) -> Entry:
    figures = {f"model_{m:03d}": {k: float(1e9 + n * 1e6 + m) for k in METRICS} for m in range(models)}
    return Entry(f"{n:040x}", 1_700_000_000 + 60 * n, figures, ancestors=n + 1, tool_version="bench")


def build(root: Path, models: int, commits: int) -> None:
    """Both layouts in one commit of the history branch, written with fast-import."""
    entries = [entry(n, models) for n in range(commits)]
    blobs = [json.dumps(e.to_json(), sort_keys=True).encode() for e in entries]
    whole = b"\n".join(blobs)  # github-action-benchmark: every entry in one file
    stream = bytearray(f"commit {LOCAL}\ncommitter b <b@b> 1700000000 +0000\ndata 5\nbench\n".encode())
    for e, blob in zip(entries, blobs, strict=True):
        path = f"flopguard.yaml/{e.ancestors:010d}-{e.commit}.json"
        stream += f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n"
    stream += f"M 100644 inline one-file/data.jsonl\ndata {len(whole)}\n".encode() + whole + b"\n"
    git(root, "fast-import", "--quiet", stdin=bytes(stream))


def timed(fn, repeat: int = 5):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--commits", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        git(root, "init", "-q", "-b", "main")
        git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "first")
        build(root, args.models, args.commits)
        ours, history = timed(lambda: read(root, "flopguard.yaml", fetch=False))
        assert len(history.entries) == args.commits and not history.skipped

        def one_file() -> int:
            text = git(root, "cat-file", "blob", f"{LOCAL}:one-file/data.jsonl")
            return len([json.loads(line) for line in text.splitlines()])

        theirs, count = timed(one_file)
        assert count == args.commits
        add, _ = timed(lambda: record(root, "flopguard.yaml", entry(args.commits, args.models)), repeat=3)
        size = sum(len(json.dumps(e.to_json())) for e in history.entries[:1])
    print(f"history of {args.models} models x {args.commits} recorded commits ({size / 1024:.0f} KiB per entry)")
    print("| layout | read everything | add one entry |")
    print("|---|---:|---:|")
    print(f"| flopguard: one file per commit (ls-tree + cat-file --batch) | {ours:.2f} s | {add:.2f} s |")
    print(f"| one file of every entry (github-action-benchmark's data.js) | {theirs:.2f} s | rewrites the file |")


if __name__ == "__main__":
    main()
