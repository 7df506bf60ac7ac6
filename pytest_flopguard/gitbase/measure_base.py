"""The base of a change: its merge-base, measured in a throwaway git worktree.

`resolve_base` turns a user's ref into the merge-base of HEAD and that ref
(refusing option-like refs; only resolved SHAs reach later git commands).
`measure_base` checks that commit out with `git worktree add --detach` in a
temporary folder — never a checkout in place, so the user's index, working
tree and stash are untouched — measures the same budget there in a separate
Python process, and removes and prunes the worktree whatever happens
(exception, Ctrl-C, SIGTERM). The measuring process is `process.py`; results
are cached by `cache.py`, keyed by everything they depend on.

    >>> base = resolve_base("main", Path.cwd())  # doctest: +SKIP
    >>> results = measure_base(base, Path("flopguard.yaml").resolve(), None)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.gitbase import cache as basecache
from pytest_flopguard.gitbase import process as baseprocess
from pytest_flopguard.results import Results
from pytest_flopguard.signals import SigtermRaises, shielded

Log = Callable[[str], None]
SHALLOW_FIX = (
    "fetch the history: with actions/checkout set `fetch-depth: 0`; "
    "locally run `git fetch --unshallow` (or fetch the base branch, e.g. `git fetch origin main`)"
)


@dataclass(frozen=True)
class BaseCommit:
    """What `--base REF` means: the merge-base of HEAD and REF, in the repository at `root`."""

    ref: str  # as the user gave it, for messages
    commit: str  # the merge-base: what is measured
    head: str  # HEAD's commit
    root: Path  # the head checkout's working tree
    common_dir: Path  # the repository's git common dir: where the cache lives


# --- which commit ---------------------------------------------------------------


def default_ref(environ: Mapping[str, str]) -> str | None:
    """In a GitHub Actions pull request, its base: the event's `base.sha`, else `origin/$GITHUB_BASE_REF`."""
    if environ.get("GITHUB_ACTIONS") != "true" or not environ.get("GITHUB_BASE_REF"):
        return None
    return _event_base_sha(environ.get("GITHUB_EVENT_PATH")) or f"origin/{environ['GITHUB_BASE_REF']}"


def _event_base_sha(path: str | None) -> str | None:
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
        sha = event["pull_request"]["base"]["sha"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha if isinstance(sha, str) and len(sha) == 40 and all(c in "0123456789abcdef" for c in sha) else None


def resolve_base(ref: str, start: Path) -> BaseCommit:
    """Resolve `ref` and find its merge-base with HEAD; a clear `FlopguardError` otherwise."""
    _refuse_option_like(ref)
    repo = _repo(start)
    head = _rev_parse(repo, "HEAD")
    if head is None:
        raise FlopguardError("FG407", "HEAD has no commit yet, so there is nothing to diff", fix="commit first")
    target = _rev_parse(repo, ref)
    if target is None:
        raise _missing_ref(repo, ref)
    merge_base = _merge_base(repo, head, target)
    if merge_base is None:
        raise _no_merge_base(repo, ref)
    return BaseCommit(ref, merge_base, head, Path(repo.working_tree_dir or start).resolve(), _common_dir(repo))


def _refuse_option_like(ref: str) -> None:
    if not ref.strip() or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise FlopguardError(
            "FG401",
            f"base ref {ref!r} is not a git ref" + (" (it looks like an option)" if ref.startswith("-") else ""),
            fix="pass a branch, tag or commit, e.g. --base main or --base origin/main",
        )


def _repo(start: Path) -> Any:
    import git

    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        repo = None
    if repo is None or repo.bare or repo.working_tree_dir is None:
        raise FlopguardError(
            "FG400",
            f"{start} is not inside a git checkout, so there is no base to measure",
            fix="run inside the repository, or diff against a saved results file with --baseline FILE",
        )
    return repo


def _rev_parse(repo: Any, ref: str) -> str | None:
    import git

    try:
        return str(repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")).strip()
    except git.GitCommandError:
        return None


def _merge_base(repo: Any, head: str, target: str) -> str | None:
    import git

    try:
        return str(repo.git.merge_base(head, target)).strip() or None
    except git.GitCommandError:
        return None


def _shallow(repo: Any) -> bool:
    return str(repo.git.rev_parse("--is-shallow-repository")).strip() == "true"


def _common_dir(repo: Any) -> Path:
    return Path(repo.common_dir).resolve()


def _missing_ref(repo: Any, ref: str) -> FlopguardError:
    if _shallow(repo):
        return FlopguardError(
            "FG403", f"base ref {ref!r} is not in this shallow clone (its history was cut)", fix=SHALLOW_FIX
        )
    return FlopguardError(
        "FG402",
        f"base ref {ref!r} is not a commit in this repository",
        fix="check the name (`git branch -a` lists branches); a remote branch must be fetched first "
        "(`git fetch origin <branch>`, then --base origin/<branch>)",
    )


def _no_merge_base(repo: Any, ref: str) -> FlopguardError:
    if _shallow(repo):
        return FlopguardError(
            "FG403",
            f"cannot find the merge-base of HEAD and {ref!r}: this is a shallow clone, its history is cut",
            fix=SHALLOW_FIX,
        )
    return FlopguardError(
        "FG404",
        f"HEAD and {ref!r} have no common history",
        fix="pass the branch this one was started from, or diff against a saved file with --baseline FILE",
    )


# --- measuring it ---------------------------------------------------------------


def measure_base(
    base: BaseCommit, budget: Path, models: Sequence[str] | None, *, use_cache: bool = True, log: Log = print
) -> Results:
    """Results of `budget`'s models at the merge-base (`models`: None for all of the base's)."""
    relative = relative_budget(budget, base.root)
    cache = basecache.cache_path(base.common_dir, base.commit, relative, models)
    results = basecache.read(cache) if use_cache else None
    if results is not None:
        log(f"flopguard: base results from cache ({base.commit[:12]})")
    else:
        results = _measure(base, relative, models, log)
        if not any(r.error for r in results.models.values()):  # failures may be transient or environmental
            basecache.write(cache, results)
    return replace(results, git={**results.git, "ref": base.ref, "commit": base.commit, "dirty": False})


def _measure(base: BaseCommit, relative: Path, models: Sequence[str] | None, log: Log) -> Results:
    log(f"flopguard: measuring the base {base.ref} (merge-base {base.commit[:12]}) in a temporary worktree")
    started = time.monotonic()
    with checkout(base) as tree:
        results = _measure_in(tree, tree / relative, base, models, log)
    log(f"flopguard: base measured in {time.monotonic() - started:.1f}s")
    return results


def relative_budget(budget: Path, root: Path) -> Path:
    try:
        return budget.resolve().relative_to(root)
    except ValueError:
        raise FlopguardError(
            "FG405",
            f"budget file {budget} is outside the git checkout {root}, so the base has no copy of it",
            fix="keep the budget file in the repository, or diff against a saved file with --baseline FILE",
        ) from None


def _measure_in(tree: Path, budget: Path, base: BaseCommit, models: Sequence[str] | None, log: Log) -> Results:
    names = base_models(budget, models, log)
    if not names:  # no budget, or none of the requested models, at the base
        return Results(models={}, budget=budget.name)
    with tempfile.TemporaryDirectory(prefix="flopguard-base-out-") as out:
        output = Path(out) / "base.json"
        command = baseprocess.command(tree, budget, output, names, base.root)
        baseprocess.run(command, budget.parent, baseprocess.environment(base.root, tree), output)
        from pytest_flopguard.results import read_results

        return read_results(output)


def base_models(budget: Path, wanted: Sequence[str] | None, log: Log) -> list[str]:
    """The models the base budget names (of those wanted); none if it has no budget file."""
    from pytest_flopguard.budget.loader import load_budget

    if not budget.is_file():
        log("flopguard: the base has no budget file; every model is new")
        return []
    try:
        names = [m.name for m in load_budget(budget).models]
    except FlopguardError as exc:
        log(f"flopguard: warning: the base's budget file cannot be read ({exc.message}); every model is new")
        return []
    return [n for n in names if wanted is None or n in wanted]


# --- the worktree, and leaving no trace of it -------------------------------------


@contextlib.contextmanager
def checkout(base: BaseCommit) -> Iterator[Path]:
    """The base checked out in a temporary worktree, removed on any exit, SIGTERM included."""
    with SigtermRaises("terminated while measuring the base; its worktree was removed"), _worktree(base) as tree:
        yield tree


@contextlib.contextmanager
def _worktree(base: BaseCommit) -> Iterator[Path]:
    """`git worktree add --detach` at the merge-base in a temp folder; removed and pruned on any exit."""
    repo = _repo(base.root)
    folder = Path(tempfile.mkdtemp(prefix="flopguard-base-"))
    tree = folder / base.root.name
    try:
        _add_worktree(repo, tree, base.commit)
        yield tree.resolve()
    finally:
        with shielded():
            _remove_worktree(repo, tree, folder)


def _add_worktree(repo: Any, tree: Path, commit: str) -> None:
    import git

    try:
        repo.git.worktree("add", "--detach", str(tree), commit)
    except git.GitCommandError as exc:  # a locked index, an LFS smudge failure, a full disk...
        stderr = str(exc.stderr or "").strip().removeprefix("stderr:").strip(" '")
        raise FlopguardError(
            "FG409",
            f"git could not check out the base {commit[:12]} in a temporary worktree: {stderr or exc}",
            fix="run `git worktree add --detach /tmp/x " + commit[:12] + "` to see why (Git LFS: `git lfs install`)",
        ) from None


def _remove_worktree(repo: Any, tree: Path, folder: Path) -> None:
    import git

    with contextlib.suppress(git.GitCommandError):
        repo.git.worktree("remove", "--force", str(tree))
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(git.GitCommandError):
        repo.git.worktree("prune")
