"""`flopguard`: the same engine without pytest, for the Action, hooks and scripts.

Exit codes: 0 pass, 1 a limit exceeded / a regression / a model that could
not be measured, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopguard import __version__
from pytest_flopguard.cli import ci as cli_ci
from pytest_flopguard.cli.output import emit, print_table, say
from pytest_flopguard.errors import FlopguardError, Terminated
from pytest_flopguard.options import RUN_OPTIONS, RunOptions

if TYPE_CHECKING:
    from pytest_flopguard.compare.diff import Comparison
    from pytest_flopguard.run.gate import Gate

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in words  # accepted anywhere on the command line
    args = parser.parse_args([w for w in words if w != "--debug"])
    try:
        return int(args.run(args))
    except FlopguardError as exc:
        say(f"flopguard: error: {exc}")
        return EXIT_USAGE
    except Terminated as exc:
        say(f"flopguard: {exc}")
        return Terminated.exit_code
    except KeyboardInterrupt:
        say("flopguard: interrupted")
        return 130
    except BrokenPipeError:  # `flopguard measure | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep Python's exit flush quiet
        return EXIT_OK
    except Exception as exc:  # our bug, not the user's input: one line, exit 2 (1 means "regression")
        if debug:
            raise
        say(f"flopguard: internal error: {type(exc).__name__}: {exc}")
        say("flopguard: this is a bug in pytest-flopguard; rerun with --debug and report the traceback")
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
    _run_args(measure, "measure")
    # Used by the base process of `check --base`: its models' code must come from the base checkout.
    measure.add_argument("--require-under", metavar="DIR", help=argparse.SUPPRESS)
    measure.add_argument("--head-checkout", metavar="DIR", help=argparse.SUPPRESS)
    measure.set_defaults(run=_measure)

    check = sub.add_parser("check", help="measure, compare with limits and a base, and exit 0/1/2")
    _run_args(check, "check")
    check.set_defaults(run=_check)

    baseline = sub.add_parser("baseline", help="measure and write the baseline results file (never the budget)")
    _run_args(baseline, "baseline")
    baseline.add_argument(
        "--write", metavar="FILE", help="baseline file to write (default: flopguard-baseline.json beside the budget)"
    )
    baseline.set_defaults(run=_baseline)

    record = sub.add_parser(
        "record", help="append this commit's figures to the results history (the flopguard-history branch)"
    )
    _run_args(record, "record")
    record.add_argument(
        "--results",
        metavar="FILE",
        help="record the figures of this results file (`check --json`) instead of measuring",
    )
    record.set_defaults(run=_record)

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
    _run_args(explain, "explain")
    explain.set_defaults(run=_explain)
    cli_ci.add_commands(sub)
    return parser


def _run_args(parser: argparse.ArgumentParser, command: str) -> None:
    """The run options of `command`, from the table the pytest plugin builds its options from."""
    for option in RUN_OPTIONS:
        if command in option.commands:
            option.add(parser.add_argument)
    if command != "explain":  # explain names its one model
        parser.add_argument("--model", metavar="NAME", action="append", help="measure only this model (repeatable)")


def _start(args: argparse.Namespace, options: RunOptions, against_base: bool = False) -> Gate:
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.run.latency import NOT_HERE
    from pytest_flopguard.run.start import start
    from pytest_flopguard.workers.importguard import ImportGuard

    guard = None
    if getattr(args, "require_under", None):  # the base process: only counts, from the base checkout
        head = Path(args.head_checkout).resolve() if args.head_checkout else None
        guard = ImportGuard(Path(args.require_under).resolve(), head)
    timed = "no_latency" in args and guard is None
    gate = start(
        options,
        find_budget(Path.cwd(), options.budget),
        say,
        against_base=against_base,
        latency_off=None if timed else NOT_HERE,
        guard=guard,
    )
    for error in gate.budget.errors:
        say(f"flopguard: error: {error}")
    if gate.pool is not None:
        gate.pool.prestart()  # torch loads in the worker while we go on
    return gate


def _selected(args: argparse.Namespace, gate: Gate) -> list[str]:
    """The models to measure: `--model` names (each must be in the budget), else all; then the shard's."""
    known = [m.name for m in gate.budget.models]
    asked: list[str] = getattr(args, "model", None) or known
    unknown = [n for n in asked if not gate.budget.names_for(n)]
    names = list(dict.fromkeys(n for name in asked for n in gate.budget.names_for(name)))  # a family: its variants
    if unknown:
        raise FlopguardError(
            "FG130",
            f"no model named {', '.join(map(repr, unknown))} in {gate.budget.display}",
            fix=f"use one of: {', '.join(known)}",
        )
    return cli_ci.selected(args, names, gate.budget.path)


def _run_models(gate: Gate, names: list[str], json_path: str | None) -> None:
    show = sys.stderr.isatty() and not os.environ.get("CI")
    from pytest_flopguard.run.checkpoint import Checkpoint

    with Checkpoint(gate, json_path, say) as checkpoint:
        for i, name in enumerate(names, 1):
            if show:
                print(f"\rmeasuring {name} ({i}/{len(names)})...\x1b[K", end="", file=sys.stderr, flush=True)
            gate.measure(name)
            checkpoint.save()  # results are never lost: after every model, atomically
    if show:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, options: RunOptions, against_base: bool = False) -> Gate:
    """Set up, pick the models (an unknown --model is an error before anything slow), measure."""
    gate = _start(args, options, against_base)
    names = _selected(args, gate)
    gate.ensure_base(names)
    if gate.pool is not None:  # --timeout-total bounds the models, not the base (as in pytest)
        gate.pool.started = time.monotonic()
    _run_models(gate, names, options.json)
    return gate


def _measure(args: argparse.Namespace) -> int:
    return _reported(args, RunOptions.from_namespace(args))[1].measured_exit_code


def _check(args: argparse.Namespace) -> int:
    return _reported(args, RunOptions.from_namespace(args), against_base=True)[1].exit_code


def _baseline(args: argparse.Namespace) -> int:
    """Write the machine-owned baseline file; the budget file is the user's and is never rewritten."""
    options = RunOptions.from_namespace(args).replace(update=True, baseline=args.write)
    return _reported(args, options)[1].measured_exit_code


def _record(args: argparse.Namespace) -> int:
    """On the default branch: measure (or take `--results`) and add the commit to the history."""
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.results import read_results
    from pytest_flopguard.run.history import record_results

    options = RunOptions.from_namespace(args)
    if args.results:
        results, path, code = read_results(args.results), find_budget(Path.cwd(), options.budget), EXIT_OK
    else:
        gate, comparison = _reported(args, options)
        results, path, code = gate.results(), gate.budget.path, comparison.measured_exit_code
    record_results(results, path, emit)
    return code


def _reported(args: argparse.Namespace, options: RunOptions, against_base: bool = False) -> tuple[Gate, Comparison]:
    """Measure, print the table, write what the options ask for (`run/start.finish`)."""
    from pytest_flopguard.run.start import finish

    gate = _run(args, options, against_base)
    comparison = gate.comparison()
    print_table(comparison)
    finish(gate, comparison, options, emit)
    return gate, comparison


def _compare(args: argparse.Namespace) -> int:
    from pytest_flopguard.compare.diff import compare
    from pytest_flopguard.results import read_results
    from pytest_flopguard.run.start import report_to_actions

    head = read_results(args.head)
    comparison = compare(read_results(args.base), head)
    print_table(comparison)
    if args.markdown:
        from pytest_flopguard.render.markdown import render_markdown
        from pytest_flopguard.results import write_text_atomic

        write_text_atomic(args.markdown, render_markdown(comparison))
        emit(f"flopguard: Markdown report written to {args.markdown}")
    report_to_actions(comparison, head.budget or "flopguard.yaml", print, os.environ)
    return comparison.exit_code


def _comment(args: argparse.Namespace) -> int:
    from pytest_flopguard.github.comment import run_comment

    trusted = cli_ci.trusted_run(args)
    go_on, pr = cli_ci.comment_target(args)
    if not go_on:
        return EXIT_OK
    return run_comment(
        args.markdown, os.environ, print, pr=pr, repo=args.repo, trusted_run=trusted, update_only=args.update_only
    )


def _explain(args: argparse.Namespace) -> int:
    from pytest_flopguard.render.terminal import render_modules

    args.model = [args.name]
    gate = _run(args, RunOptions.from_namespace(args))
    if any(result.error for result in gate.measured.values()):
        print_table(gate.comparison())
        return EXIT_FAIL
    for name, result in gate.measured.items():  # a family of variants: one table each
        emit("\n".join(render_modules(name, result)))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
