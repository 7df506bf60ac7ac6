"""`flopguard`: the same engine without pytest, for the Action, hooks and scripts.

Exit codes: 0 pass, 1 a limit exceeded / a regression / a model that could
not be measured, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopguard import __version__
from pytest_flopguard.cli import ci as cli_ci
from pytest_flopguard.compare.diff import Comparison
from pytest_flopguard.errors import FlopguardError, Terminated
from pytest_flopguard.options import HELP
from pytest_flopguard.run.gate import Gate
from pytest_flopguard.run.latency import SWITCHED_OFF, LatencyOptions
from pytest_flopguard.workers.importguard import ImportGuard

if TYPE_CHECKING:
    from pytest_flopguard.gitbase.measure_base import BaseCommit

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in words  # accepted anywhere on the command line
    args = parser.parse_args([w for w in words if w != "--debug"])
    try:
        return int(args.run(args))
    except FlopguardError as exc:
        _say(f"flopguard: error: {exc}")
        return EXIT_USAGE
    except Terminated as exc:
        _say(f"flopguard: {exc}")
        return Terminated.exit_code
    except KeyboardInterrupt:
        _say("flopguard: interrupted")
        return 130
    except BrokenPipeError:  # `flopguard measure | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep Python's exit flush quiet
        return EXIT_OK
    except Exception as exc:  # our bug, not the user's input: one line, exit 2 (1 means "regression")
        if debug:
            raise
        _say(f"flopguard: internal error: {type(exc).__name__}: {exc}")
        _say("flopguard: this is a bug in pytest-flopguard; rerun with --debug and report the traceback")
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flopguard", description="Gate ML models on FLOPs, parameters, memory traffic and latency."
    )
    parser.add_argument("--version", action="version", version=f"pytest-flopguard {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="on an internal error, show its traceback (anywhere on the line)"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    measure = sub.add_parser("measure", help="measure the budget's models and print their figures")
    _budget_args(measure)
    # Used by the base process of `check --base`: its models' code must come from the base checkout.
    measure.add_argument("--require-under", metavar="DIR", help=argparse.SUPPRESS)
    measure.add_argument("--head-checkout", metavar="DIR", help=argparse.SUPPRESS)
    _latency_args(measure)
    cli_ci.add_shard_option(measure)
    measure.set_defaults(run=_measure)

    check = sub.add_parser("check", help="measure, compare with limits and a base, and exit 0/1/2")
    _budget_args(check)
    against = check.add_mutually_exclusive_group()
    against.add_argument(
        "--base",
        metavar="REF",
        help=HELP["base"],
    )
    against.add_argument("--baseline", metavar="FILE", help=HELP["baseline"])
    check.add_argument("--no-cache", action="store_true", help="measure the base even if cached results exist")
    check.add_argument("--markdown", metavar="OUT", help="write the Markdown report here")
    check.add_argument(
        "--plot", metavar="OUT.svg", help="write an SVG of FLOPs vs params (and vs the budget's accuracy figures)"
    )
    _latency_args(check)
    cli_ci.add_check_options(check)
    check.set_defaults(run=_check)

    baseline = sub.add_parser("baseline", help="measure and write the baseline results file (never the budget)")
    _budget_args(baseline, json=False)
    baseline.add_argument(
        "--write", metavar="FILE", help="baseline file to write (default: flopguard-baseline.json beside the budget)"
    )
    baseline.set_defaults(run=_baseline)

    compare = sub.add_parser("compare", help="compare two results files")
    compare.add_argument("base", metavar="BASE.json")
    compare.add_argument("head", metavar="HEAD.json")
    compare.add_argument("--markdown", metavar="OUT", help="write the Markdown report here")
    compare.set_defaults(run=_compare)

    comment = sub.add_parser("comment", help="create or update the pull request comment with a Markdown report")
    comment.add_argument("--markdown", metavar="FILE", required=True, help="the report, from `check --markdown`")
    comment.add_argument("--pr", type=int, metavar="N", help="pull request number (default: from GITHUB_EVENT_PATH)")
    comment.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: GITHUB_REPOSITORY)")
    cli_ci.add_comment_options(comment)
    comment.set_defaults(run=_comment)

    explain = sub.add_parser("explain", help="per-module table of one model")
    explain.add_argument("name", metavar="NAME")
    explain.add_argument("--budget", metavar="FILE", help="budget file (default: flopguard.yaml)")
    explain.set_defaults(run=_explain)
    cli_ci.add_commands(sub)
    return parser


def _budget_args(parser: argparse.ArgumentParser, json: bool = True) -> None:
    parser.add_argument(
        "--budget", metavar="FILE", help="budget file (default: [tool.flopguard] budget or flopguard.yaml)"
    )
    if json:
        parser.add_argument("--json", metavar="OUT", help="write the results JSON here")
    parser.add_argument("--model", metavar="NAME", action="append", help="measure only this model (repeatable)")
    from pytest_flopguard.run.checkpoint import add_isolation_args

    add_isolation_args(parser)


def _latency_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-latency", action="store_true", help="do not time models (their latency rows say skipped)")
    parser.add_argument(
        "--latency-time",
        metavar="DURATION",
        type=_duration,
        help=HELP["latency_time"],
    )


def _duration(text: str) -> float:
    from pytest_flopguard.options import latency_time

    try:
        return latency_time(text, "--latency-time")
    except FlopguardError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.fix}") from None


def _latency_options(args: argparse.Namespace) -> LatencyOptions:
    """Commands with `--no-latency` (measure, check) time models; the others never do."""
    if not hasattr(args, "no_latency") or getattr(args, "require_under", None):  # the base process only counts
        return LatencyOptions()
    if args.no_latency:
        return LatencyOptions(reason=SWITCHED_OFF)
    return LatencyOptions(enabled=True, time=args.latency_time)


def _load_gate(args: argparse.Namespace, base_file: str | None = None) -> Gate:
    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.results import read_results

    budget = load_budget(find_budget(Path.cwd(), args.budget))
    for error in budget.errors:
        _say(f"flopguard: error: {error}")
    base = read_results(base_file) if base_file else None
    gate = Gate(budget, base=base, latency=_latency_options(args))
    from pytest_flopguard.run.checkpoint import pool_for

    gate.pool = pool_for(args)  # started now: torch loads in the worker while we go on
    if getattr(args, "require_under", None):
        head = Path(args.head_checkout).resolve() if args.head_checkout else None
        gate.guard = ImportGuard(Path(args.require_under).resolve(), head)
    return gate


def _selected(args: argparse.Namespace, gate: Gate) -> list[str]:
    """The models to measure: `--model` names (each must be in the budget), else all."""
    known = [m.name for m in gate.budget.models]
    asked: list[str] = args.model or known
    unknown = [n for n in asked if not gate.budget.names_for(n)]
    names = list(dict.fromkeys(n for name in asked for n in gate.budget.names_for(name)))  # a family: its variants
    if unknown:
        raise FlopguardError(
            "FG130",
            f"no model named {', '.join(map(repr, unknown))} in {gate.budget.display}",
            fix=f"use one of: {', '.join(known)}",
        )
    return cli_ci.selected(args, names, gate.budget.path)


def _run_models(args: argparse.Namespace, base_file: str | None = None, gate: Gate | None = None) -> Gate:
    gate = gate or _load_gate(args, base_file)
    names = _selected(args, gate)
    show = sys.stderr.isatty() and not os.environ.get("CI")
    from pytest_flopguard.run.checkpoint import Checkpoint

    with Checkpoint(gate, getattr(args, "json", None), _say) as checkpoint:
        for i, name in enumerate(names, 1):
            if show:
                print(f"\rmeasuring {name} ({i}/{len(names)})...\x1b[K", end="", file=sys.stderr, flush=True)
            gate.measure(name)
            checkpoint.save()  # results are never lost: after every model, atomically
    if show:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    return gate


def _measure(args: argparse.Namespace) -> int:
    gate = _run_models(args)
    comparison = gate.comparison()
    _print_table(comparison)
    if comparison.config_errors:
        return EXIT_USAGE
    return EXIT_FAIL if any(r.error for r in gate.measured.values()) else EXIT_OK


def _check(args: argparse.Namespace) -> int:
    cli_ci.before_check(args)
    gate = _load_gate(args, args.baseline)
    gate.reuse = not args.measure_all  # figures of unchanged models come from the base (run/reuse.py)
    names = _selected(args, gate)  # an unknown --model is an error before anything slow
    base = _base_commit(args, gate)
    if base is not None:
        from pytest_flopguard.gitbase.measure_base import measure_base

        wanted = names if args.model or args.shard else None
        gate.base = measure_base(base, gate.budget.path, wanted, use_cache=not args.no_cache, log=_say)
        gate.base = gate.pair_latency(gate.base, base, names, _say)
    _run_models(args, gate=gate)
    comparison = gate.comparison()
    _print_table(comparison)
    _write_markdown(comparison, args.markdown)
    _write_plot(gate, args.plot)
    _report_to_actions(comparison, gate.budget.display)
    cli_ci.after_check(args, gate, comparison)
    return comparison.exit_code


def _base_commit(args: argparse.Namespace, gate: Gate) -> BaseCommit | None:
    """`--base REF`, else (in a GitHub Actions pull request, without --baseline) the PR's base."""
    from pytest_flopguard.gitbase.measure_base import default_ref, resolve_base

    ref = args.base
    if ref is None and args.baseline is None and (ref := default_ref(os.environ)) is not None:
        _say(f"flopguard: pull request: diffing against its base {ref}")
    return resolve_base(ref, gate.budget.root) if ref is not None else None


def _baseline(args: argparse.Namespace) -> int:
    """Write the machine-owned baseline file; the budget file is the user's and is never rewritten."""
    from pytest_flopguard.options import default_baseline
    from pytest_flopguard.results import previous_results, write_results

    gate = _run_models(args)
    path = Path(args.write) if args.write else default_baseline(gate.budget.path)
    written = gate.baseline(previous_results(path))
    write_results(written, path)
    comparison = gate.comparison()
    _print_table(comparison)
    _emit(f"flopguard: baseline written to {path} ({len(written.models)} models)")
    if comparison.config_errors:
        return EXIT_USAGE
    return EXIT_FAIL if any(r.error for r in gate.measured.values()) else EXIT_OK


def _say(message: str) -> None:
    _emit(message, err=True)


def _emit(text: str, err: bool = False) -> None:
    """Print text that may hold untrusted strings: it cannot issue workflow commands."""
    from pytest_flopguard.render.actions import neutralise

    print(neutralise(text), file=sys.stderr if err else sys.stdout, flush=err)


def _compare(args: argparse.Namespace) -> int:
    from pytest_flopguard.compare.diff import compare
    from pytest_flopguard.results import read_results

    head = read_results(args.head)
    comparison = compare(read_results(args.base), head)
    _print_table(comparison)
    _write_markdown(comparison, args.markdown)
    _report_to_actions(comparison, head.budget or "flopguard.yaml")
    return comparison.exit_code


def _comment(args: argparse.Namespace) -> int:
    from pytest_flopguard.github.comment import run_comment

    go_on, pr = cli_ci.comment_target(args)
    return run_comment(args.markdown, os.environ, print, pr=pr, repo=args.repo) if go_on else EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from pytest_flopguard.render.terminal import render_modules

    args.json, args.model = None, [args.name]
    gate = _run_models(args)
    if any(result.error for result in gate.measured.values()):
        _print_table(gate.comparison())
        return EXIT_FAIL
    for name, result in gate.measured.items():  # a family of variants: one table each
        _emit("\n".join(render_modules(name, result)))
    return EXIT_OK


def _print_table(comparison: Comparison) -> None:
    from pytest_flopguard.render.terminal import render_table

    _emit("\n".join(render_table(comparison, color=_color())))


def _color() -> bool:
    """ANSI colours on a terminal; plain text in CI logs, pipes, NO_COLOR and TERM=dumb."""
    return (
        sys.stdout.isatty()
        and not os.environ.get("CI")
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )


def _write_markdown(comparison: Comparison, path: str | None) -> None:
    if not path:
        return
    from pytest_flopguard.render.markdown import render_markdown
    from pytest_flopguard.results import write_text_atomic

    write_text_atomic(path, render_markdown(comparison))
    _emit(f"flopguard: Markdown report written to {path}")


def _write_plot(gate: Gate, path: str | None) -> None:
    if not path:
        return
    from pytest_flopguard.render.plot import render_plot
    from pytest_flopguard.results import write_text_atomic

    write_text_atomic(path, render_plot(gate.results()))
    _emit(f"flopguard: plot written to {path}")


def _report_to_actions(comparison: Comparison, budget_file: str) -> None:
    """In GitHub Actions: the full report in the job summary, annotations on the budget lines."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    from pytest_flopguard.github.api import MAX_SUMMARY, write_step_summary
    from pytest_flopguard.render.actions import error_annotations
    from pytest_flopguard.render.markdown import render_markdown

    write_step_summary(render_markdown(comparison, max_chars=MAX_SUMMARY // 4), os.environ)
    for line in error_annotations(comparison, budget_file):
        print(line)  # our own workflow commands, built from escaped values


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
