"""The results file: round trip, atomic writes, other schema versions."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_flopguard.errors import ResultsError
from pytest_flopguard.measure.types import ModuleStats, OpStats
from pytest_flopguard.results import ErrorInfo, ModelResult, Results, read_results, write_results
from pytest_flopguard.results_json import to_json
from pytest_flopguard.run.gate import git_info


def sample() -> Results:
    good = ModelResult(
        metrics={"macs": 10, "flops": 20, "params": 3, "memory_access": 40, "latency.cpu": 0.025},
        modules=(ModuleStats("", "Net", 1, 3, 10, 20, 0, 40),),
        ops={"aten.mm.default": OpStats(1, 10, 0, 40)},
        uncounted_ops={"aten.cumsum.default": 2},
        execution="meta",
        limits={"flops": 100, "latency.cpu": 0.03},
        tolerance={"flops": 0.0},
        limit_lines={"flops": 7},
        floor={"flops": 1000.0, "latency": 0.001},
    )
    bad = ModelResult(error=ErrorInfo("RuntimeError", "boom", where="models/x.py:3"))
    detector = ModelResult(
        metrics={"macs": 7, "flops": 14, "params": 2, "memory_access": 9},
        execution="real",
        data_dependent="aten.nonzero at torchvision/ops/boxes.py:151 (keep = torch.where(keep)[0])",
    )
    return Results(
        models={"good": good, "bad": bad, "detector": detector},
        env={"torch": "2.13.0"},
        git={"commit": "abc"},
        budget="flopguard.yaml",
        budget_models=("good", "bad", "detector"),
    )


def test_round_trip(tmp_path: Path) -> None:
    path = write_results(sample(), tmp_path / "out" / "r.json")
    assert read_results(path) == sample()
    assert read_results(path).models["detector"].data_dependent.startswith("aten.nonzero at ")  # type: ignore[union-attr]
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temp file left behind


def test_json_shape_follows_spec() -> None:
    data = to_json(sample())
    assert data["schema"] == 1
    assert data["tool"]["name"] == "pytest-flopguard"
    metrics = data["models"]["good"]["metrics"]
    assert metrics["latency"] == {"cpu": {"median_s": 0.025}}
    assert isinstance(metrics["macs"], int)
    assert data["models"]["bad"]["error"]["type"] == "RuntimeError"
    assert data["models"]["good"]["limits"] == {"flops": 100, "latency": {"cpu": 0.03}}


def test_other_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**to_json(sample()), "schema": 2}))
    with pytest.raises(ResultsError, match=r"has results schema 2; this pytest-flopguard .* reads schema 1"):
        read_results(path)


@pytest.mark.parametrize(("text", "code"), [("{", "FG201"), ("[]", "FG202"), ('{"schema": 1}', "FG202")])
def test_corrupt_files(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ResultsError) as info:
        read_results(path)
    assert info.value.code == code


@pytest.mark.parametrize("bad", ['"12"', "true", "NaN", "Infinity", "null", "[1]"])
def test_metric_values_must_be_finite_numbers(tmp_path: Path, bad: str) -> None:
    data = to_json(sample())
    text = json.dumps(data).replace('"macs": 10', f'"macs": {bad}', 1)
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ResultsError) as info:
        read_results(path)
    assert info.value.code == "FG202"
    assert "models.good.metrics.macs: expected a finite number, got " in info.value.message


def test_every_field_the_writer_writes_is_declared_in_the_shape() -> None:
    """A new field written to results files must be declared in `results_shape.py` too: then it is
    checked on reading, and tests/github/test_inert_comment.py plants a payload in it."""
    from pytest_flopguard.budget.schema import Variant
    from pytest_flopguard.results_shape import MODEL_SHAPE, RESULTS_SHAPE

    every = replace(
        sample().models["good"],
        variant=Variant("good", "640", (640, 640), 1, "bf16", "g"),
        accuracy=76.1,
        inputs_hash="abc",
        reused=True,
        seconds=1.5,
        notes=("a note",),
        data_dependent="aten.nonzero at x.py:1",
        output="printed",
    )
    data = to_json(replace(sample(), models={"every": every, "bad": sample().models["bad"]}))
    assert set(data) <= set(RESULTS_SHAPE.fields)
    for entry in data["models"].values():
        assert set(entry) <= set(MODEL_SHAPE.fields), set(entry) - set(MODEL_SHAPE.fields)
    git = git_info(Path(__file__).resolve().parents[1] / "pyproject.toml")  # this clone's facts, as a run records them
    assert git and set(git) <= set(RESULTS_SHAPE.fields["git"].fields)  # type: ignore[attr-defined]
