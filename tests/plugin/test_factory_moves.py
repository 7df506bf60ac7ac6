"""A factory that moves its model (`.cpu()`, `.to("cpu", float32)`, DataParallel) is
counted on meta weights through a real `pytest --flopguard` session (issue 18)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

MOVERS = """
import torch
from torch import nn


def _mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def data_parallel():
    return nn.DataParallel(_mlp()).cpu()


def to_cpu_float32():
    return _mlp().to("cpu", torch.float32)
"""

BUDGET = """
version: 1
models:
  data_parallel:
    model: movers:data_parallel
    inputs: [[2, 8]]
  to_cpu_float32:
    model: movers:to_cpu_float32
    inputs: [[2, 8]]
"""


def test_factories_that_move_their_model_count_on_meta_weights(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(movers=MOVERS)
    (pytester.path / "flopguard.yaml").write_text(BUDGET)
    result = pytester.runpytest_subprocess("--flopguard", "--flopguard-json", "out.json")
    result.assert_outcomes(passed=2)
    models = json.loads((pytester.path / "out.json").read_text())["models"]
    for name in ("data_parallel", "to_cpu_float32"):
        got = models[name]
        # hybrid with no note: built with its weights on meta, never rebuilt on the CPU.
        assert (got["execution"], got["notes"], got["error"]) == ("hybrid", [], None), name
        # DataParallel's forward opens a profiler marker (record_function): free, not uncounted.
        assert got["uncounted_ops"] == {}, name
        metrics = got["metrics"]
        # macs: 2 rows * (8*16 + 16*4) = 384; params: 8*16+16 + 16*4+4 = 212
        # flops_other: bias adds 2*16 + 2*4 = 40, relu 2*16 = 32 -> 72
        assert (metrics["macs"], metrics["params"], metrics["flops_other"]) == (384, 212, 72), name
