"""Annotations for the budget file, and untrusted text that cannot issue commands."""

from __future__ import annotations

import pytest

from pytest_flopguard.compare.diff import compare
from pytest_flopguard.render.actions import error_annotations, neutralise
from pytest_flopguard.results import ModelResult, Results


@pytest.mark.parametrize(
    "hostile",
    ["::set-output name=x::y", "  ::add-mask::secret", "::stop-commands::abc", "ok\n::error::boom", "\t::warning::w"],
)
def test_neutralised_lines_are_not_commands(hostile: str) -> None:
    for line in neutralise(hostile).split("\n"):
        assert not line.lstrip().startswith("::"), line
    assert neutralise(hostile).replace("\u200b", "") == hostile


def test_plain_text_is_unchanged() -> None:
    assert neutralise("flops 1.2G is over its limit: 1G") == "flops 1.2G is over its limit: 1G"


def model(flops: int, limit: int, name_line: int = 13) -> ModelResult:
    return ModelResult(metrics={"flops": flops}, limits={"flops": limit}, limit_lines={"flops": name_line})


def test_one_annotation_per_metric_over_its_limit_pointing_at_its_line() -> None:
    results = Results(
        models={"classifier": model(2_000_000, 1_000), "fine": model(10, 1_000)}, budget_models=("classifier", "fine")
    )
    assert error_annotations(compare(None, results), "flopguard.yaml") == [
        "::error file=flopguard.yaml,line=13,title=flopguard%3A classifier flops over its limit::classifier: flops is 2M, over its limit 1K"
    ]


def test_at_most_ten_annotations_and_hostile_names_escaped() -> None:
    models = {f"m{i}": model(2_000, 1_000, i + 1) for i in range(15)}
    models["evil,name::x\n%"] = model(2_000, 1_000)
    lines = error_annotations(compare(None, Results(models=models, budget_models=tuple(models))), "flopguard.yaml")
    assert len(lines) == 10
    evil = error_annotations(compare(None, Results(models={"evil,name::x\n%": model(2_000, 1_000)})), "flopguard.yaml")[
        0
    ]
    assert "title=flopguard%3A evil%2Cname%3A%3Ax%0A%25 flops over its limit::evil,name::x%0A%25: flops" in evil
    assert "\n" not in evil
