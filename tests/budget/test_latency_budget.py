"""The latency parts of the budget: throughput and bandwidth units, `devices:`, `timing:`, device names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flopguard.budget.devices import SHIPPED
from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.budget.schema import TimingSpec
from pytest_flopguard.budget.units import UnitError, format_bandwidth, format_rate, parse_bandwidth, parse_rate
from pytest_flopguard.errors import BudgetError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.2T", 1.2e12),
        ("65TFLOPS", 65e12),
        ("8.1 TFLOP/s", 8.1e12),
        ("130 TOP/s", 130e12),
        ("40TOPS", 40e12),
        ("153.6GFLOPs/s", 153.6e9),
        (1_000_000, 1e6),  # a plain number is operations per second
    ],
)
def test_parse_rate(raw: object, expected: float) -> None:
    assert parse_rate(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("68GB/s", "'68GB/s' is a bandwidth, but fp32 takes operations per second"),
        ("4GB", "'4GB' is a byte size, but fp32 takes operations per second"),
        ("5ms", "'5ms' is a duration, but fp32 takes operations per second"),
        ("1.2Tx", "'1.2Tx' is not a throughput, but fp32 takes operations per second"),
        ("-1T", "'-1T' is negative"),
    ],
)
def test_parse_rate_errors(raw: object, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_rate(raw, "fp32")
    assert info.value.message == message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("68GB/s", 68e9), ("1.5TB/s", 1.5e12), ("100GiB/s", 100 * 2**30), ("17.1 GB/s", 17.1e9)],
)
def test_parse_bandwidth(raw: str, expected: float) -> None:
    assert parse_bandwidth(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("68GB", "'68GB' is a byte size, but bandwidth takes bytes per second"),
        ("68", "'68' has no byte unit per second, but bandwidth takes bytes per second"),
        ("2T/s", "'2T/s' is a count, but bandwidth takes bytes per second"),
    ],
)
def test_parse_bandwidth_errors(raw: str, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_bandwidth(raw)
    assert info.value.message == message
    assert info.value.fix.startswith("write e.g. ")


def test_format_rate_and_bandwidth() -> None:
    assert (format_rate(8.1e12), format_rate(130e12, "OP/s"), format_bandwidth(3.2e11)) == (
        "8.1TFLOP/s",
        "130TOP/s",
        "320GB/s",
    )


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name the budget file relative to the working folder


def budget(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flopguard.yaml"
    path.write_text(text)
    return path


MODEL = "  m:\n    model: a:b\n    inputs: [[1, 4]]\n"


def test_devices_timing_and_estimate_targets(tmp_path: Path) -> None:
    path = budget(
        tmp_path,
        "version: 1\n"
        "devices:\n"
        "  my-npu: {fp32: 1.2T, fp16: 4.8TFLOPS, bandwidth: 68GB/s, title: Acme NPU}\n"
        "defaults:\n"
        "  timing: {threads: 2, time: 20s}\n"
        "models:\n" + MODEL + "    timing: {time: 3s}\n"
        "    limits:\n"
        "      latency: {cpu: 25ms, cuda:1: 2ms}\n"
        "      latency_estimate: {my-npu: 1ms, t4: 500us}\n",
    )
    loaded = load_budget(path)
    spec = loaded.model("m")
    assert spec.errors == ()
    assert spec.timing == TimingSpec(threads=2, time=3.0)  # the model's time, the defaults' threads
    assert spec.latency_devices == ("cpu", "cuda:1")
    assert spec.profiles["t4"] == SHIPPED["t4"]
    npu = spec.profiles["my-npu"]
    assert (npu.title, npu.fp32, npu.fp16, npu.int8, npu.bandwidth) == ("Acme NPU", 1.2e12, 4.8e12, 4.8e12, 68e9)
    assert loaded.devices == {"my-npu": npu}


def test_unknown_estimate_target_suggests_a_profile(tmp_path: Path) -> None:
    path = budget(tmp_path, "version: 1\nmodels:\n" + MODEL + "    limits: {latency_estimate: {jetson-orin: 4ms}}\n")
    (error,) = load_budget(path).model("m").errors
    assert str(error) == (
        "flopguard.yaml:6 models.m.limits.latency_estimate.jetson-orin: no device profile named 'jetson-orin'; "
        "did you mean 'jetson-orin-nano'? [FG116]\n"
        "  fix: use one of: a100, h100, jetson-orin-nano, laptop-cpu, raspberry-pi-5, t4, or add it under "
        "`devices:` (`{fp32: 1.2T, fp16: 2.4T, int8: 4.8TOPS, bandwidth: 68GB/s}`)"
    )


def test_latency_on_an_unknown_device_points_to_estimates(tmp_path: Path) -> None:
    path = budget(tmp_path, "version: 1\nmodels:\n" + MODEL + "    limits: {latency: {tpu: 4ms}}\n")
    (error,) = load_budget(path).model("m").errors
    assert str(error) == (
        "flopguard.yaml:6 models.m.limits.latency.tpu: latency is measured on `cpu`, `cuda` or `cuda:N`, "
        "not 'tpu' [FG118]\n  fix: for a device this runner does not have, use `latency_estimate: {tpu: ...}` "
        "with a profile"
    )


def test_device_profile_without_bandwidth_is_a_file_error(tmp_path: Path) -> None:
    path = budget(tmp_path, "version: 1\ndevices:\n  npu: {fp32: 1T}\nmodels:\n" + MODEL)
    with pytest.raises(BudgetError) as info:
        load_budget(path)
    assert str(info.value) == (
        "flopguard.yaml:3 devices.npu: device profile 'npu' needs `bandwidth` [FG117]\n"
        "  fix: write e.g. `{fp32: 1.2T, fp16: 2.4T, int8: 4.8TOPS, bandwidth: 68GB/s}`"
    )


def test_device_profile_with_a_wrong_unit(tmp_path: Path) -> None:
    path = budget(tmp_path, "version: 1\ndevices:\n  npu: {fp32: 1T, bandwidth: 68GB}\nmodels:\n" + MODEL)
    with pytest.raises(BudgetError, match=r"devices.npu.bandwidth: '68GB' is a byte size, but bandwidth takes"):
        load_budget(path)


@pytest.mark.parametrize(
    ("timing", "message"),
    [
        ("{threads: 0}", "models.m.timing.threads: threads must be an integer >= 1, got '0' [FG119]"),
        ("{time: 0s}", "models.m.timing.time: time must be more than 0 [FG119]"),
        ("{time: 10}", "models.m.timing.time: 10 has no unit, but timing.time takes a duration [FG109]"),
        ("{thread: 2}", "models.m.timing.thread: unknown key 'thread'; did you mean 'threads'? [FG107]"),
    ],
)
def test_timing_errors(tmp_path: Path, timing: str, message: str) -> None:
    path = budget(tmp_path, "version: 1\nmodels:\n" + MODEL + f"    timing: {timing}\n")
    (error,) = load_budget(path).model("m").errors
    assert message in str(error)


def test_every_shipped_profile_cites_its_source() -> None:
    assert set(SHIPPED) == {"jetson-orin-nano", "raspberry-pi-5", "t4", "a100", "h100", "laptop-cpu"}
    for profile in SHIPPED.values():
        assert profile.source and profile.title
        assert 0 < profile.fp32 <= profile.fp16 <= profile.int8
        assert profile.bandwidth > 0
