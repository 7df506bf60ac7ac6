"""Latency in the results file and the reports: measured and estimated, never confused.

Regenerate the golden file after an intended change with
`FLOPGUARD_UPDATE_GOLDEN=1 pytest tests/render/test_latency_report.py` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

from pytest_flopguard.compare.diff import Comparison, compare
from pytest_flopguard.render.failure import failure_message
from pytest_flopguard.render.markdown import render_markdown
from pytest_flopguard.render.terminal import render_table
from pytest_flopguard.results import ModelResult, Results, read_results, write_results
from pytest_flopguard.results_json import to_json
from tests.render.test_render import check_golden

from pytest_flopguard.measure.types import LatencyStats, VersusBase  # isort: skip

ENV = {"device": "cpu", "cpu": "AMD EPYC 7763", "torch": "2.13.0", "threads": "1", "python": "3.11.7"}
T4 = "roofline on NVIDIA T4 (fp32 8.1TFLOP/s, ...): 412us, 35% of it in memory-bound ops; a lower bound (peak figures)"


def figures(median: float, versus: VersusBase | None = None, samples: int = 412) -> LatencyStats:
    return LatencyStats(median, median * 0.97, median * 1.08, samples, 1, 3, ENV, versus)


def model(median: float, versus: VersusBase | None = None, estimate: float = 0.000412) -> ModelResult:
    return ModelResult(
        metrics={"macs": 10**9, "flops": 2 * 10**9, "latency.cpu": median, "latency_estimate.t4": estimate},
        latency={"cpu": figures(median, versus)},
        limits={"latency.cpu": 0.025, "latency.cuda": 0.002, "latency_estimate.t4": 0.001},
        limit_lines={"latency.cpu": 9},
        skipped={"latency.cuda": "no CUDA device on this machine (torch.cuda.is_available() is False)"},
        estimate_basis={"t4": T4},
    )


def scenario() -> Comparison:
    regressed = VersusBase("regressed", 1.204, 1.171, 1.239, 0.95, 0.05, "all above 1.050", True, 0.0102)
    unclear = VersusBase("inconclusive", 1.041, 0.998, 1.087, 0.95, 0.05, "straddles 1.050", None, 0.0081)
    base = Results(
        models={"classifier": model(0.0102), "detector": model(0.0081)}, budget_models=("classifier", "detector")
    )
    head = Results(
        models={"classifier": model(0.0123, regressed), "detector": model(0.0084, unclear)},
        budget_models=("classifier", "detector"),
    )
    return compare(base, head)


def test_results_json_nests_latency_as_spec_says(tmp_path: Path) -> None:
    results = scenario()
    head = Results(models={"classifier": results.models[0].head}, budget_models=("classifier",))  # type: ignore[dict-item]
    data = to_json(head)["models"]["classifier"]
    cpu = data["metrics"]["latency"]["cpu"]
    assert {"median_s", "p10_s", "p90_s", "samples", "threads", "environment"} <= set(cpu)
    assert cpu["median_s"] == 0.0123 and cpu["samples"] == 412 and cpu["threads"] == 1
    assert cpu["versus_base"]["verdict"] == "regressed" and cpu["versus_base"]["confirmed"] is True
    assert data["metrics"]["latency_estimate"] == {"t4": 0.000412}
    assert data["skipped"] == {"latency.cuda": "no CUDA device on this machine (torch.cuda.is_available() is False)"}
    assert data["estimate_basis"] == {"t4": T4}
    assert read_results(write_results(head, tmp_path / "r.json")) == head


def test_markdown_labels_measured_and_estimated_golden() -> None:
    report = render_markdown(scenario())
    check_golden("latency.md", report)
    assert "| latency.cpu (measured) |" in report
    assert "| latency_estimate.t4 (estimated) |" in report
    assert "head/base 1.204 &#91;1.171, 1.239&#93; (95%)" in report


def test_terminal_labels_and_explains_latency_rows() -> None:
    lines = render_table(scenario())
    text = "\n".join(lines)
    assert "FAILED: 1 regressed, 1 inconclusive" in lines[0]
    assert "latency.cpu (measured)" in text and "latency_estimate.t4 (estimated)" in text
    assert (
        "  classifier: latency.cpu measured: median 12.3ms, p10–p90 11.9ms–13.3ms, 412 samples, 1 thread(s), "
        "AMD EPYC 7763, torch 2.13.0; head/base 1.204 [1.171, 1.239] (95%), interleaved in this job: "
        "regressed at tolerance 5.0%, confirmed in fresh processes"
    ) in lines
    assert f"  classifier: latency_estimate.t4 estimated: {T4}" in lines
    assert any("latency.cuda measured: skipped: no CUDA device" in line for line in lines)


def test_failure_message_carries_the_ratio() -> None:
    message = failure_message(scenario().models[0], "flopguard.yaml")
    assert "latency.cpu regressed: 10.2ms -> 12.3ms" in message
    assert "head/base 1.204 [1.171, 1.239] (95%)" in message
    assert message.endswith("(flopguard.yaml:9)")
