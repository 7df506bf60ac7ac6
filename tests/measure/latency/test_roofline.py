"""`latency_estimate`: the roofline sum, per-call costs from the counter, the choice of peak by dtype."""

from __future__ import annotations

import pytest
import torch

from pytest_flopguard.budget.devices import SHIPPED, DeviceProfile
from pytest_flopguard.measure.latency.roofline import estimate, estimate_model
from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.types import Measurement, OpCost, OpStats

# A round device: 1 TFLOP/s fp32, 4 TFLOP/s fp16, 8 TOP/s int8, 100 GB/s.
ROUND = DeviceProfile("round", "Round", fp32=1e12, fp16=4e12, int8=8e12, bandwidth=100e9, source="test")


def test_each_call_is_bound_by_compute_or_bandwidth_and_the_bounds_add_up() -> None:
    costs = [
        OpCost(2_000_000_000, 1_000_000, "fp32"),  # compute: 2e9 / 1e12 = 2 ms; bytes 1e6 / 1e11 = 10 us
        OpCost(1_000, 50_000_000, "fp32"),  # memory: 5e7 / 1e11 = 0.5 ms
        OpCost(2_000_000_000, 1_000_000, "fp16"),  # compute at fp16: 2e9 / 4e12 = 0.5 ms
        OpCost(2_000_000_000, 1_000_000, "int8"),  # 2e9 / 8e12 = 0.25 ms
    ]
    assert estimate(costs, ROUND) == pytest.approx(0.002 + 0.0005 + 0.0005 + 0.00025)


def test_per_call_is_not_per_op_total() -> None:
    # Two calls of one op: one compute-bound, one memory-bound. Summed per call: 2 ms + 0.5 ms;
    # per op total max(2 ms, 0.51 ms) would say 2 ms.
    costs = (OpCost(2_000_000_000, 1_000_000, "fp32"), OpCost(0, 50_000_000, "fp32"))
    measurement = Measurement(0, 0, 0, 0, 0, ops={"aten.mm.default": OpStats(2, 10**9, 0, 51_000_000)}, op_costs=costs)
    result = estimate_model(measurement, ROUND)
    assert result.seconds == pytest.approx(0.0025)
    assert result.memory_bound == pytest.approx(0.2)  # 0.5 of 2.5 ms
    assert result.basis.startswith("roofline on Round (fp32 1TFLOP/s, fp16 4TFLOP/s, int8 8TOP/s, 100GB/s; test)")


def test_engines_without_per_call_costs_use_per_op_totals_and_say_so() -> None:
    measurement = Measurement(0, 0, 0, 0, 0, ops={"Conv": OpStats(3, 10**9, 0, 10**6)})  # 2 GFLOP in 3 calls
    result = estimate_model(measurement, ROUND)
    assert result.seconds == pytest.approx(0.002)
    assert "from per-op totals taken as fp32" in result.basis


def test_counter_records_one_cost_per_call() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(512, 1000), torch.nn.ReLU())
    m = count_forward(model, (torch.randn(1, 512),))
    assert len(m.op_costs) == sum(op.calls for op in m.ops.values())
    assert sum(c.flops for c in m.op_costs) == m.flops + m.flops_other
    assert sum(c.bytes for c in m.op_costs) == m.memory_access
    assert {c.precision for c in m.op_costs} == {"fp32"}


def test_half_precision_ops_use_the_fp16_peak() -> None:
    model = torch.nn.Linear(64, 64).to(torch.bfloat16)
    m = count_forward(model, (torch.randn(2, 64, dtype=torch.bfloat16),))
    assert {c.precision for c in m.op_costs if c.flops} == {"fp16"}


def test_resnet_like_block_on_shipped_profiles_is_slower_on_smaller_devices() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU())
    m = count_forward(model, (torch.randn(1, 3, 224, 224),))
    seconds = {name: estimate_model(m, profile).seconds for name, profile in SHIPPED.items()}
    assert seconds["raspberry-pi-5"] > seconds["jetson-orin-nano"] > seconds["t4"] > seconds["a100"] > seconds["h100"]
