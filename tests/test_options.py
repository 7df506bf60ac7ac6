"""One table of run options builds both doors: every option exists in `pytest --flopguard`
and on the `flopguard` commands it lists, with the same help, parser and meaning."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from pytest_flopguard.cli.main import _parser
from pytest_flopguard.options import PYTEST_PREFIX, RUN_OPTIONS, Option, RunOptions
from pytest_flopguard.plugin import run_options

# A valid value of each option that takes one (flags need none). A new option fails
# test_every_option_means_the_same_in_both_doors until it has one here.
SAMPLES = {
    "budget": "models/flopguard.yaml",
    "json": "out.json",
    "markdown": "report.md",
    "plot": "plot.svg",
    "base": "origin/main",
    "baseline": "saved.json",
    "shard": "2/3",
    "base-json": "base.json",
    "latency-time": "30s",
    "timeout-total": "45m",
    "worker-memory": "16GiB",
}
BAD = {"latency-time": ("0s", "FG131"), "timeout-total": ("soon", "FG132"), "worker-memory": ("12MB", "FG133")}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def _cli_options(command: str, words: list[str]) -> RunOptions:
    model = ["net"] if command == "explain" else []  # explain names its model
    args = _parser().parse_args([command, *model, *words])
    return RunOptions.from_namespace(args)


def _words(option: Option, prefix: str) -> list[str]:
    flag = f"--{prefix}{option.name}"
    return [flag] if option.metavar is None else [flag, SAMPLES[option.name]]


def test_the_table_is_every_run_option_of_both_doors(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    group = config._parser.getgroup("flopguard")
    in_pytest = {o.names()[0]: o for o in group.options}
    in_table = {f"--{PYTEST_PREFIX}{o.name}": o for o in RUN_OPTIONS}
    assert set(in_pytest) == {"--flopguard", *in_table}  # nothing in pytest alone
    for name, option in in_table.items():
        assert in_pytest[name].attrs()["help"] == option.help
    commands = _subparsers()
    for command in ("measure", "check", "baseline", "explain", "record"):
        cli = {a.option_strings[0]: a for a in commands[command]._actions if a.option_strings}
        door_only = {"-h", "--model", "--write", "--results", "--require-under", "--head-checkout"}
        wanted = {f"--{o.name}" for o in RUN_OPTIONS if command in o.commands}
        assert set(cli) - door_only == wanted, command  # nothing in the command line alone
        for option in RUN_OPTIONS:
            if command in option.commands:
                assert cli[f"--{option.name}"].help == option.help


@pytest.mark.parametrize("option", RUN_OPTIONS, ids=lambda o: o.name)
def test_every_option_means_the_same_in_both_doors(pytester: pytest.Pytester, option: Option) -> None:
    through_pytest = run_options(pytester.parseconfig(*_words(option, PYTEST_PREFIX)))
    assert through_pytest != RunOptions(), "the option changed nothing"
    for command in sorted(option.commands):
        assert _cli_options(command, _words(option, "")) == through_pytest, command


@pytest.mark.parametrize("name", sorted(BAD))
def test_both_doors_refuse_a_bad_value_with_the_same_error(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text, code = BAD[name]
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["check", f"--{name}", text])
    assert exited.value.code == 2
    cli_error = capsys.readouterr().err
    assert f"argument --{name}: " in cli_error and f"[{code}]" in cli_error
    result = pytester.runpytest("--flopguard", f"--{PYTEST_PREFIX}{name}", text)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    pytest_error = result.stderr.str()
    assert f"argument --{PYTEST_PREFIX}{name}: " in pytest_error and f"[{code}]" in pytest_error
    # the same words after the option's name
    said = [e.split(f"{name}: ")[1].splitlines()[0] for e in (cli_error, pytest_error)]
    assert said[0] == said[1]


def test_run_options_cover_the_table() -> None:
    assert [f.name for f in dataclasses.fields(RunOptions)] == [o.dest for o in RUN_OPTIONS]
