"""The real-world corpus: every case builds and counts on meta weights, agrees with
its independent reference (corpus.py), and lists no uncounted op that moves no data."""

from __future__ import annotations

import pytest

from pytest_flopguard.measure.torch_engine.execute import count_model
from tests.realworld.corpus import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_counts_agree_with_the_reference(case: Case) -> None:
    if not case.available():
        pytest.skip(f"{case.package} is not installed")
    m = count_model(case.build, lambda device, model: case.inputs())
    ref = case.reference()
    assert (m.execution, m.notes) == ("hybrid", ()), "counted on meta weights, with no fallback"
    assert m.params == ref.params, f"params {m.params:,} vs {ref.params:,} ({ref.source})"
    assert m.macs == pytest.approx(ref.macs, rel=ref.tolerance), f"MACs {m.macs:,} vs {ref.macs:,.0f} ({ref.source})"
    assert dict(m.uncounted_ops) == {}
