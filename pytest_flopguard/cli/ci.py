"""The `flopguard` commands and options for CI, hooks and first contact.

- `demo`: the whole story on a scratch repository (`demo.py`).
- `pre-commit FILE...`: the hook's entry (`precommit.py`).
- `merge A.json B.json --json OUT`: join the results of a sharded matrix (`run/shard.py`).
- `validate-results --dir D FILE...`: an untrusted artifact checked as data (`github/artifact.py`).
- `base-cache-key [--base REF] [--budget F]`: the key CI caches the base's results under (`gitbase/cache.py`).
- `status --sha SHA --state S`: the commit status "flopguard" (`github/status.py`).
- `report [BASE.json] HEAD.json --html DIR`: the module-level picture as one HTML page (`render/html.py`).
- on `comment`: `--head-sha`, `--run-id` (the fork-safe comment's trusted facts).

Kept apart from `main.py` so that the core commands stay short; the run
options (`--shard`, `--base-json`, `--github-output`, ...) are in the one
table of `options.py`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopguard.errors import FlopguardError

if TYPE_CHECKING:
    from pytest_flopguard.github.pr import TrustedRun


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run the gate on a change to example_repo: the whole product in one command")
    demo.add_argument("--keep", metavar="DIR", help="build the scratch repository in DIR and keep it")
    demo.add_argument(
        "--markdown", metavar="OUT", default="flopguard-report.md", help="where to write the Markdown report"
    )
    demo.set_defaults(run=_demo)

    hook = sub.add_parser("pre-commit", help="the pre-commit hook: limits of the models these files can affect")
    hook.add_argument("files", nargs="*", metavar="FILE", help="changed files (pre-commit passes the staged ones)")
    hook.add_argument(
        "--budget", metavar="FILE", help="budget file (default: [tool.flopguard] budget or flopguard.yaml)"
    )
    hook.set_defaults(run=_pre_commit)

    merge = sub.add_parser("merge", help="join the results files of shards (--shard I/N) into one")
    merge.add_argument("parts", nargs="+", metavar="FILE.json")
    merge.add_argument("--json", metavar="OUT", required=True, help="the merged results file")
    merge.add_argument(
        "--partial", action="store_true", help="accept budget models found in no file (reported as not run)"
    )
    merge.set_defaults(run=_merge)

    validate = sub.add_parser("validate-results", help="check downloaded results files as data before use")
    validate.add_argument("names", nargs="+", metavar="FILE", help="the files the folder must hold, and nothing else")
    validate.add_argument("--dir", required=True, metavar="DIR", help="the folder the artifact was unpacked into")
    validate.add_argument("--max-bytes", type=int, default=None, metavar="N", help="size cap per file (10 MB)")
    validate.set_defaults(run=_validate)

    key = sub.add_parser("base-cache-key", help="print the key under which CI caches the base's results")
    key.add_argument("--base", metavar="REF", help="the ref `check --base` gets (default: the pull request's base)")
    key.add_argument(
        "--budget", metavar="FILE", help="budget file (default: [tool.flopguard] budget or flopguard.yaml)"
    )
    key.set_defaults(run=_base_cache_key)

    status = sub.add_parser("status", help='set the commit status "flopguard" (success, failure, error)')
    status.add_argument("--sha", required=True, metavar="SHA", help="the commit (in a pull request: its head)")
    status.add_argument("--state", required=True, metavar="STATE", help="success, failure, error or pending")
    status.add_argument("--description", default="", metavar="TEXT", help="one line (140 characters)")
    status.set_defaults(run=_status)

    report = sub.add_parser("report", help="write one self-contained HTML page of where each model's work goes")
    report.add_argument("files", nargs="+", metavar="[BASE.json] HEAD.json", help="results files (the base optional)")
    report.add_argument("--html", metavar="DIR", required=True, help="folder to write index.html into")
    report.set_defaults(run=_report)


def add_comment_options(comment: argparse.ArgumentParser) -> None:
    comment.add_argument(
        "--head-sha",
        metavar="SHA",
        help="comment only while the pull request's head is this commit (workflow_run); "
        "without --pr, find the open pull request with this head (fork pull requests); "
        "the comment names it as the commit the figures come from",
    )
    comment.add_argument(
        "--update-only",
        action="store_true",
        help="update the earlier comment if there is one, post no new one",
    )
    comment.add_argument(
        "--run-id",
        type=int,
        metavar="ID",
        help="with --head-sha: the measuring run's id (github.event.workflow_run.id), linked from the comment",
    )


def trusted_run(args: argparse.Namespace) -> TrustedRun | None:
    """The run and commit the figures come from, as the workflow_run event names them."""
    if args.run_id is not None and not args.head_sha:
        raise FlopguardError(
            "FG521",
            "--run-id names the measuring run of --head-sha, which is missing",
            fix="pass both from the workflow_run event: github.event.workflow_run.head_sha and .id, through env:",
        )
    if not args.head_sha:
        return None
    from pytest_flopguard.github.pr import TrustedRun

    return TrustedRun(args.head_sha, args.run_id)


def selected(args: argparse.Namespace, names: list[str], budget: Path | None = None) -> list[str]:
    """`names` narrowed to this run's shard, if any (balanced by the baseline file's costs)."""
    if not getattr(args, "shard", None):
        return names
    from pytest_flopguard.run.shard import parse_shard, pick_shard, shard_names

    if budget is None:
        return shard_names(names, parse_shard(args.shard))
    return pick_shard(names, parse_shard(args.shard), budget, getattr(args, "baseline", None))


def comment_target(args: argparse.Namespace) -> tuple[bool, int | None]:
    """(go on, pull request): with --head-sha, the pull request whose head is still that commit."""
    if not args.head_sha:
        return True, args.pr
    from pytest_flopguard.cli.output import say
    from pytest_flopguard.github.api import Client, target_from_env
    from pytest_flopguard.github.pr import pr_for_head

    target = target_from_env({**os.environ, "GITHUB_EVENT_PATH": ""}, args.pr, args.repo)
    client = Client(target.api_url, target.token)
    pr = pr_for_head(client, target.repo, args.head_sha, args.pr, say)
    return pr is not None, pr


# --- handlers ---------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from pytest_flopguard.cli.demo import run_demo
    from pytest_flopguard.cli.output import emit

    return run_demo(args.keep, args.markdown, emit)


def _pre_commit(args: argparse.Namespace) -> int:
    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.cli.precommit import affected_models, deterministic_only
    from pytest_flopguard.options import find_budget

    budget = load_budget(find_budget(Path.cwd(), args.budget))
    names = affected_models(budget, [Path(f) for f in args.files])
    if not names:
        return 0  # nothing staged can change a model: done, without importing torch
    from pytest_flopguard.cli.output import print_table
    from pytest_flopguard.run.gate import Gate
    from pytest_flopguard.workers.pool import Pool

    with Pool() as pool:  # a model that crashes or hangs fails the hook, not the commit machinery
        gate = Gate(deterministic_only(budget, names), pool=pool)
        gate.measure_all(names)
    comparison = gate.comparison()
    print_table(comparison)
    return comparison.exit_code


def _merge(args: argparse.Namespace) -> int:
    from pytest_flopguard.cli.output import emit
    from pytest_flopguard.results import read_results, write_results
    from pytest_flopguard.run.shard import merge_results

    merged = merge_results([(path, read_results(path)) for path in args.parts], partial=args.partial)
    write_results(merged, args.json)
    emit(f"flopguard: merged {len(args.parts)} results files ({len(merged.models)} models) into {args.json}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pytest_flopguard.cli.output import emit
    from pytest_flopguard.github.artifact import DEFAULT_MAX_BYTES, validate_artifact

    if args.max_bytes is not None and args.max_bytes <= 0:
        raise FlopguardError("FG616", "--max-bytes must be positive", fix="e.g. --max-bytes 10000000")
    checked = validate_artifact(Path(args.dir), args.names, args.max_bytes or DEFAULT_MAX_BYTES)
    listed = ", ".join(f"{c.name} ({len(c.results.models)} models, {c.size} bytes)" for c in checked)
    emit(f"flopguard: valid results: {listed}")
    return 0


def _base_cache_key(args: argparse.Namespace) -> int:
    """Prints the key, or nothing when there is no base to cache (then `check` says why, if it matters)."""
    import sys

    from pytest_flopguard.gitbase.cache import actions_cache_key
    from pytest_flopguard.gitbase.measure_base import default_ref, resolve_base
    from pytest_flopguard.options import find_budget

    ref = args.base or default_ref(os.environ)
    if ref is None:
        return 0
    try:
        budget = find_budget(Path.cwd(), args.budget)
        key = actions_cache_key(resolve_base(ref, budget.parent).commit, budget)
    except (FlopguardError, OSError) as exc:
        print(f"flopguard: no base results cache key: {exc}", file=sys.stderr)
        return 0
    print(key)
    return 0


def _status(args: argparse.Namespace) -> int:
    from pytest_flopguard.github.status import run_status

    return run_status(args.sha, args.state, args.description, os.environ, print)


def _report(args: argparse.Namespace) -> int:
    """Writes DIR/index.html; exits 0 once written (the verdicts are `compare`'s and `check`'s)."""
    from pytest_flopguard.cli.output import emit
    from pytest_flopguard.compare.diff import compare
    from pytest_flopguard.render.html import render_html
    from pytest_flopguard.results import read_results, write_text_atomic

    if len(args.files) > 2:
        raise FlopguardError(
            "FG640",
            f"report takes one or two results files, got {len(args.files)}",
            fix="flopguard report [BASE.json] HEAD.json --html DIR",
        )
    *base, head = [read_results(path) for path in args.files]
    page = render_html(compare(base[0] if base else None, head))
    target = write_text_atomic(Path(args.html) / "index.html", page)
    emit(f"flopguard: HTML report written to {target} ({len(page.encode())} bytes)")
    return 0
