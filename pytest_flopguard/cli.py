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

from pytest_flopguard import __version__
from pytest_flopguard.compare.diff import Comparison
from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.gate import Gate

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except FlopguardError as exc:
        print(f"flopguard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("flopguard: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flopguard", description="Gate ML models on FLOPs, parameters, memory traffic and latency."
    )
    parser.add_argument("--version", action="version", version=f"pytest-flopguard {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    measure = sub.add_parser("measure", help="measure the budget's models and print their figures")
    _budget_args(measure)
    measure.set_defaults(run=_measure)

    check = sub.add_parser("check", help="measure, compare with limits and a baseline, and exit 0/1/2")
    _budget_args(check)
    check.add_argument("--baseline", metavar="FILE", help="diff against a saved results file")
    check.add_argument("--markdown", metavar="OUT", help="write the Markdown report here")
    check.set_defaults(run=_check)

    compare = sub.add_parser("compare", help="compare two results files")
    compare.add_argument("base", metavar="BASE.json")
    compare.add_argument("head", metavar="HEAD.json")
    compare.add_argument("--markdown", metavar="OUT", help="write the Markdown report here")
    compare.set_defaults(run=_compare)

    explain = sub.add_parser("explain", help="per-module table of one model")
    explain.add_argument("name", metavar="NAME")
    explain.add_argument("--budget", metavar="FILE", help="budget file (default: flopguard.yaml)")
    explain.set_defaults(run=_explain)
    return parser


def _budget_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--budget", metavar="FILE", help="budget file (default: [tool.flopguard] budget or flopguard.yaml)"
    )
    parser.add_argument("--json", metavar="OUT", help="write the results JSON here")
    parser.add_argument("--model", metavar="NAME", action="append", help="measure only this model (repeatable)")


def _load_gate(args: argparse.Namespace, base_file: str | None = None) -> Gate:
    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.options import find_budget
    from pytest_flopguard.results import read_results

    budget = load_budget(find_budget(Path.cwd(), args.budget))
    for error in budget.errors:
        print(f"flopguard: error: {error}", file=sys.stderr)
    base = read_results(base_file) if base_file else None
    return Gate(budget, base=base)


def _run_models(args: argparse.Namespace, base_file: str | None = None) -> Gate:
    gate = _load_gate(args, base_file)
    known = [m.name for m in gate.budget.models]
    names = args.model or known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FlopguardError(
            "FG130",
            f"no model named {', '.join(map(repr, unknown))} in {gate.budget.display}",
            fix=f"use one of: {', '.join(known)}",
        )
    show = sys.stderr.isatty() and not os.environ.get("CI")
    for i, name in enumerate(names, 1):
        if show:
            print(f"\rmeasuring {name} ({i}/{len(names)})...\x1b[K", end="", file=sys.stderr, flush=True)
        gate.measure(name)
    if show:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    if args.json:
        from pytest_flopguard.results import write_results

        write_results(gate.results(), args.json)
    return gate


def _measure(args: argparse.Namespace) -> int:
    gate = _run_models(args)
    comparison = gate.comparison()
    _print_table(comparison)
    if comparison.config_errors:
        return EXIT_USAGE
    return EXIT_FAIL if any(r.error for r in gate.measured.values()) else EXIT_OK


def _check(args: argparse.Namespace) -> int:
    gate = _run_models(args, args.baseline)
    comparison = gate.comparison()
    _print_table(comparison)
    _write_markdown(comparison, args.markdown)
    return comparison.exit_code


def _compare(args: argparse.Namespace) -> int:
    from pytest_flopguard.compare.diff import compare
    from pytest_flopguard.results import read_results

    comparison = compare(read_results(args.base), read_results(args.head))
    _print_table(comparison)
    _write_markdown(comparison, args.markdown)
    return comparison.exit_code


def _explain(args: argparse.Namespace) -> int:
    from pytest_flopguard.render.terminal import render_modules

    args.json, args.model = None, [args.name]
    gate = _run_models(args)
    result = gate.measured[args.name]
    if result.error:
        _print_table(gate.comparison())
        return EXIT_FAIL
    print("\n".join(render_modules(args.name, result)))
    return EXIT_OK


def _print_table(comparison: Comparison) -> None:
    from pytest_flopguard.render.terminal import render_table

    print("\n".join(render_table(comparison)))


def _write_markdown(comparison: Comparison, path: str | None) -> None:
    if not path:
        return
    from pytest_flopguard.render.markdown import render_markdown
    from pytest_flopguard.results import write_text_atomic

    write_text_atomic(path, render_markdown(comparison))
    print(f"flopguard: Markdown report written to {path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
