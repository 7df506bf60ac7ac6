"""Budget files written to hurt: each refused fast, with its exact message, and the good
models of the same file still measured where the fault is inside one entry."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
import yaml

from pytest_flopguard.budget.hardening import Work, check_tree
from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.errors import BudgetError
from tests.conftest import run_cli

M = "version: 1\nmodels:\n"
ENTRY = "  a:\n    model: m:f\n    inputs: [[1]]\n"
BOMB = (
    "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + "models: {}\n"
)

# Faults that make the whole file untrustworthy: it is refused (a BudgetError), fast.
FILE_FAULTS = {
    "python tag": (
        M + "  a: !!python/object:os.system {}\n",
        "b.yaml:3: tag 'tag:yaml.org,2002:python/object:os.system' is not allowed: a budget file is plain data [FG150]",
    ),
    "python/name tag in kwargs": (
        M + ENTRY + "    kwargs: {f: !!python/name:os.system ''}\n",
        "b.yaml:6: tag 'tag:yaml.org,2002:python/name:os.system' is not allowed: a budget file is plain data [FG150]",
    ),
    "custom tag": (
        M + ENTRY + "    kwargs: {x: !env HOME}\n",
        "b.yaml:6: tag '!env' is not allowed: a budget file is plain data [FG150]",
    ),
    "set tag": (
        M + ENTRY + "    kwargs: {x: !!set {a, b}}\n",
        "b.yaml:6: tag 'tag:yaml.org,2002:set' is not allowed: a budget file is plain data [FG150]",
    ),
    "binary tag": (
        M + ENTRY + "    kwargs: {x: !!binary aGk=}\n",
        "b.yaml:6: tag 'tag:yaml.org,2002:binary' is not allowed: a budget file is plain data [FG150]",
    ),
    "alias bomb": (BOMB, "b.yaml: aliases expand the file's 33 values to 1234567913 [FG151]"),
    "recursive alias": (
        M + "  a: &x\n    model: m:f\n    inputs: [[1]]\n    kwargs: {self: *x}\n",
        "b.yaml:3: an alias refers to a collection that contains it [FG151]",
    ),
    "nesting past 64": (
        M + ENTRY + "    kwargs: {x: " + "[" * 100 + "]" * 100 + "}\n",
        "b.yaml:6: nested more than 64 levels deep [FG151]",
    ),
    "nesting past the parser's stack": (
        "version: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n",
        "b.yaml: nested too deeply to read [FG151]",
    ),
    "duplicate model": (
        M + ENTRY + "  a:\n    model: m:g\n    inputs: [[1]]\n",
        "b.yaml:6 models.a: duplicate key 'a' (first at line 3) [FG106]",
    ),
    "future version": (
        "version: 9\nmodels: {}\n",
        "b.yaml:1 version: budget version 9 is not supported by this pytest-flopguard (supports (1,)) [FG104]",
    ),
    "version as a float": (
        "version: 1.5\nmodels: {}\n",
        "b.yaml:1 version: version must be an integer, got '1.5' [FG104]",
    ),
    "not a mapping": ("- a\n- b\n", None),
    "empty": ("", "b.yaml: budget file is empty [FG101]"),
    "control characters": (
        "\x00\x01\x02",
        "b.yaml: not valid YAML: unacceptable character #x0000: special characters are not allowed [FG101]",
    ),
}

# Faults inside one entry: that model carries the error, the others stay usable.
ENTRY_FAULTS = {
    "negative limit": ("    limits: {params: -1M}\n", "b.yaml:6 models.a.limits.params: '-1M' is negative [FG109]"),
    "nan limit": ("    limits: {flops: nan}\n", "b.yaml:6 models.a.limits.flops: nan is not a finite number [FG109]"),
    "inf limit": ("    limits: {flops: inf}\n", "b.yaml:6 models.a.limits.flops: inf is not a finite number [FG109]"),
    "zero-size shape": (
        "    inputs: [[1, 0, 3]]\n",
        "b.yaml:5 models.a.inputs[0]: a shape must be a list of integers >= 1, got [1, 0, 3] [FG114]",
    ),
    "negative shape": (
        "    inputs: [[1, -3]]\n",
        "b.yaml:5 models.a.inputs[0]: a shape must be a list of integers >= 1, got [1, -3] [FG114]",
    ),
    "shape over 2^31 elements": (
        "    inputs: [[65536, 65536, 2]]\n",
        "b.yaml:5 models.a.inputs[0]: a shape of 8.59G elements (over 2^31) cannot be a model input [FG114]",
    ),
    "onnx absolute path": (
        "    onnx: /etc/passwd\n",
        "b.yaml:4 models.a.onnx: '/etc/passwd' is an absolute path [FG152]",
    ),
    "onnx .. out of the repository": ("    onnx: ../../../../etc/passwd\n", None),
    "model is a path": (
        "    model: ../evil:f\n",
        "b.yaml:4 models.a.model: '../evil:f' is not `package.module:function` [FG111]",
    ),
    "model is a call": (
        "    model: \"os:system('x')\"\n",
        "b.yaml:4 models.a.model: \"os:system('x')\" is not `package.module:function` [FG111]",
    ),
    "inputs factory is a path": (
        '    inputs: "../x:make"\n',
        "b.yaml:5 models.a.inputs: '../x:make' is not `package.module:function` [FG113]",
    ),
    "timeout zero": ("    timeout: 0s\n", "b.yaml:6 models.a.timeout: timeout '0s' is not more than zero [FG109]"),
    "timeout without unit": (
        "    timeout: 5\n",
        "b.yaml:6 models.a.timeout: 5 has no unit, but timeout takes a duration [FG109]",
    ),
    "flops in bytes": ("    limits: {flops: 4.1 GB}\n", None),
}


@pytest.mark.parametrize("case", list(FILE_FAULTS))
def test_a_hostile_file_costs_work_linear_in_its_text(case: str) -> None:
    """Bounded by work done, not by a clock (a busy runner made a 2 s bound flake): the tree
    check visits each reference to a node once; the bomb's 10^9 expansions are never walked."""
    text, _ = FILE_FAULTS[case]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return  # refused by the parser itself, which reads each character once
    work = Work()
    with contextlib.suppress(BudgetError):
        if root is not None:
            check_tree(root, "b.yaml", work)
    assert work.visits <= len(text), (work.visits, len(text))


def test_the_bomb_is_refused_after_visiting_its_text_not_its_expansion() -> None:
    work = Work()
    with pytest.raises(BudgetError, match=r"aliases expand the file's 33 values to (\d+) \[FG151\]") as caught:
        check_tree(yaml.compose(BOMB, Loader=yaml.SafeLoader), "b.yaml", work)
    assert int(caught.value.message.rsplit(" ", 1)[1]) > 10**9  # what a naive walk would have visited
    # the root, its 11 keys and 11 values, a's 10 scalars, then 10 aliases in each of b..i
    assert work.visits == 1 + 2 * 11 + 10 + 8 * 10


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)  # the repository root that paths must stay in
    path = tmp_path / "b.yaml"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("case", list(FILE_FAULTS))
def test_a_hostile_file_is_refused_fast(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text, message = FILE_FAULTS[case]
    with pytest.raises(BudgetError) as caught:
        load_budget(_write(tmp_path, text))
    first = str(caught.value).splitlines()[0]
    if message is not None:
        assert first == message
    assert "Traceback" not in str(caught.value)


def test_the_alias_bomb_names_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BudgetError, match=r"aliases expand the file's 35 values to 12345679025 \[FG151\]"):
        load_budget(_write(tmp_path, BOMB.replace("models: {}", "j: &j [" + ", ".join(["*i"] * 10) + "]\nmodels: {}")))


@pytest.mark.parametrize("case", list(ENTRY_FAULTS))
def test_a_bad_entry_is_its_own_error_and_the_good_entry_stays(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line, message = ENTRY_FAULTS[case]
    entry = ENTRY
    key = line.strip().split(":")[0]
    if key in ("inputs", "model"):
        entry = "\n".join(x for x in ENTRY.splitlines() if not x.strip().startswith(f"{key}:")) + "\n"
    if key == "onnx":
        entry = "  a:\n    inputs: {x: [1]}\n"
    text = (
        M
        + entry.replace("  a:\n", "  a:\n" + (line if key in ("model", "onnx") else ""))
        + (line if key not in ("model", "onnx") else "")
        + "  good:\n    model: m:f\n    inputs: [[1]]\n"
    )
    budget = load_budget(_write(tmp_path, text))
    errors = [str(e).splitlines()[0] for e in budget.model("a").errors]
    assert errors and budget.model("good").errors == ()
    if message is not None:
        assert errors[0] == message
    else:
        assert errors[0].startswith(
            (
                "b.yaml:4 models.a.onnx: '../../../../etc/passwd' is outside the repository",
                "b.yaml:6 models.a.limits.flops:",
            )
        )


def test_an_onnx_link_out_of_the_repository_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    (tmp_path / "outside.onnx").write_bytes(b"x")
    os.symlink(tmp_path / "outside.onnx", repo / "model.onnx")
    budget = load_budget(_write(repo, M + "  a:\n    onnx: model.onnx\n    inputs: {x: [1]}\n"))
    (error,) = budget.model("a").errors
    assert error.code == "FG152"
    assert (
        error.message
        == f"'model.onnx' is outside the repository (a symbolic link leads to {tmp_path / 'outside.onnx'})"
    )


def test_onnx_dot_dot_inside_the_repository_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "")
    path = tmp_path / "conf" / "b.yaml"
    path.write_text(M + "  a:\n    onnx: ../models/m.onnx\n    inputs: {x: [1]}\n")
    assert load_budget(path).model("a").errors == ()


def test_yaml_1_1_surprises_bom_and_crlf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        "\ufeffversion: 1\r\nmodels:\r\n"
        + "".join(
            f"  {name}:\r\n    model: m:f\r\n    inputs: [[1]]\r\n    limits: {{flops: 1e9}}\r\n    timeout: 5m\r\n"
            for name in ("no", "on", "yes", "off", "null")
        )
        + "  z:\r\n    model: m:f\r\n    inputs: [[1]]\r\n    limits: {flopz: 1}\r\n"
    )
    budget = load_budget(_write(tmp_path, text))
    assert [m.name for m in budget.models] == ["no", "on", "yes", "off", "null", "z"]
    assert budget.model("no").limits == {"flops": 1_000_000_000}
    assert budget.model("yes").timeout == 300.0
    # CRLF and the BOM do not shift line numbers: `flopz` is on line 31 (2 + 5 * 5 + 4).
    assert str(budget.model("z").errors[0]).splitlines()[0] == (
        "b.yaml:31 models.z.limits.flopz: unknown key 'flopz'; did you mean 'flops'? [FG107]"
    )


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BudgetError, match=r"budget file is over 1000000 bytes \[FG100\]"):
        load_budget(_write(tmp_path, "version: 1\n#" + "x" * 1_100_000 + "\nmodels: {}\n"))


@pytest.mark.slow
def test_cli_measures_the_good_models_beside_bad_entries(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "m.py").write_text("import torch\n\ndef f():\n    return torch.nn.Linear(4, 2)\n")
    bad = "".join(
        f"  bad{i}:\n    model: m:f\n{line}"
        for i, line in enumerate(
            [
                "    inputs: [[1, 0]]\n",
                "    inputs: [[1, 4]]\n    limits: {params: -1}\n",
                "    onnx: /etc/passwd\n    inputs: {x: [1]}\n",
            ]
        )
    )
    (tmp_path / "flopguard.yaml").write_text(
        M + bad.replace("    model: m:f\n    onnx:", "    onnx:") + "  good:\n    model: m:f\n    inputs: [[1, 4]]\n"
    )
    proc = run_cli("measure", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    models = json.loads((tmp_path / "out.json").read_text())["models"]
    assert models["good"]["error"] is None and models["good"]["metrics"]["macs"] == 8
    assert {n: models[n]["error"]["code"] for n in ("bad0", "bad1", "bad2")} == {
        "bad0": "FG114",
        "bad1": "FG109",
        "bad2": "FG152",
    }


def test_an_internal_error_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    cli = importlib.import_module("pytest_flopguard.cli.main")  # the module (as an attribute, cli.main is the function)

    def broken(args: object) -> int:
        raise RuntimeError("our bug")

    monkeypatch.setattr(cli, "_compare", broken)
    assert cli.main(["compare", "a.json", "b.json"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "flopguard: internal error: RuntimeError: our bug",
        "flopguard: this is a bug in pytest-flopguard; rerun with --debug and report the traceback",
    ]
    with pytest.raises(RuntimeError, match="our bug"):
        cli.main(["compare", "a.json", "b.json", "--debug"])
