"""`flopguard` with latency limits, end to end: results JSON, Markdown labels, --no-latency, --base.

Mechanics only: short time budgets, and no assertion on how fast anything ran.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_flopguard.run.latency import SWITCHED_OFF
from tests.conftest import git, run_cli

pytestmark = pytest.mark.slow

LIMITS = """      memory_access: 40MB
      latency: {cpu: 10s, cuda: 1s}
      latency_estimate: {jetson-orin-nano: 1s, my-npu: 1s}
"""
DEVICES = "devices:\n  my-npu: {fp32: 2T, int8: 8TOPS, bandwidth: 50GB/s}\n\nmodels:\n"


def with_latency_limits(root: Path) -> None:
    budget = root / "flopguard.yaml"
    text = re.sub(r"      latency_estimate: .*\n", "", budget.read_text())  # the example's own, replaced below
    assert "      memory_access: 40MB\n" in text and "\nmodels:\n" in text
    text = text.replace("      memory_access: 40MB\n", LIMITS, 1).replace("\nmodels:\n", "\n" + DEVICES, 1)
    budget.write_text(text)


def test_check_reports_measured_and_estimated_latency(example_copy: Path) -> None:
    with_latency_limits(example_copy)
    proc = run_cli(
        "check", "--json", "out.json", "--markdown", "r.md", "--latency-time", "0.3s", "--model", "classifier",
        cwd=example_copy,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    model = json.loads((example_copy / "out.json").read_text())["models"]["classifier"]
    cpu = model["metrics"]["latency"]["cpu"]
    assert {"median_s", "p10_s", "p90_s", "samples", "threads"} <= set(cpu)
    assert cpu["threads"] == 1 and cpu["samples"] >= 1 and cpu["p10_s"] <= cpu["median_s"] <= cpu["p90_s"]
    estimates = model["metrics"]["latency_estimate"]
    assert set(estimates) == {"jetson-orin-nano", "my-npu"} and all(v > 0 for v in estimates.values())
    assert model["estimate_basis"]["my-npu"].startswith("roofline on my-npu (fp32 2TFLOP/s, fp16 2TFLOP/s, int8 8TOP/s")
    assert "latency.cuda" in model["skipped"]

    report = (example_copy / "r.md").read_text()
    assert "| latency.cpu (measured) |" in report
    assert "| latency_estimate.jetson-orin-nano (estimated) |" in report
    assert "| latency.cuda (measured) | — |" in report and "⏸️ skipped" in report
    assert "**Latency** — measured: wall time of one forward pass on this runner" in report
    assert "latency_estimate.my-npu estimated: roofline on my-npu" in report
    assert "latency.cpu (measured)" in proc.stdout


def test_no_latency_skips_timing_and_says_so(example_copy: Path) -> None:
    with_latency_limits(example_copy)
    proc = run_cli("measure", "--json", "out.json", "--no-latency", "--model", "classifier", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    model = json.loads((example_copy / "out.json").read_text())["models"]["classifier"]
    assert "latency" not in model["metrics"] and "latency_estimate" in model["metrics"]
    assert model["skipped"]["latency.cpu"] == SWITCHED_OFF


def test_base_and_head_are_timed_interleaved_in_one_job(example_copy: Path) -> None:
    with_latency_limits(example_copy)
    git(example_copy, "init", "-q", "-b", "main")
    git(example_copy, "add", ".")
    git(example_copy, "commit", "-qm", "base")
    proc = run_cli(
        "check", "--base", "main", "--model", "classifier", "--latency-time", "0.5s",
        "--json", "out.json", "--markdown", "r.md", cwd=example_copy,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr  # identical code: any verdict but a crash; no timed asserts
    assert "timing classifier on cpu: base and head interleaved, 0.5s" in proc.stderr
    cpu = json.loads((example_copy / "out.json").read_text())["models"]["classifier"]["metrics"]["latency"]["cpu"]
    versus = cpu["versus_base"]
    assert versus["verdict"] in ("ok", "inconclusive", "regressed") and versus["tolerance"] == 0.05
    assert versus["base_median_s"] > 0 and cpu["samples"] > 1
    assert "interleaved in this job" in (example_copy / "r.md").read_text()


def test_pytest_plugin_times_latency_and_can_switch_it_off(pytester: pytest.Pytester) -> None:
    import shutil

    from tests.conftest import EXAMPLE

    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    with_latency_limits(pytester.path)
    timed = pytester.runpytest_subprocess("--flopguard", "-k", "classifier", "--flopguard-latency-time", "0.3s")
    timed.assert_outcomes(passed=1, deselected=2)
    timed.stdout.fnmatch_lines(["*latency.cpu (measured)*10s*", "*classifier: latency.cpu measured: median *"])
    off = pytester.runpytest_subprocess("--flopguard", "-k", "classifier", "--flopguard-no-latency")
    off.assert_outcomes(passed=1, deselected=2)
    off.stdout.fnmatch_lines(["*latency.cpu (measured)*skipped*", f"*latency.cpu measured: skipped: {SWITCHED_OFF}*"])


@pytest.mark.parametrize("value", ["0s", "-1s", "10"])
def test_plugin_and_cli_refuse_the_same_bad_latency_times(
    pytester: pytest.Pytester, example_copy: Path, value: str
) -> None:
    import shutil

    shutil.copytree(example_copy, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest_subprocess("--flopguard", f"--flopguard-latency-time={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "[FG131]" in result.stderr.str()
    proc = run_cli("check", f"--latency-time={value}", cwd=example_copy)
    assert proc.returncode == 2
    assert "--latency-time" in proc.stderr
