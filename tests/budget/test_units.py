"""Units: strict parsing and human formatting, as parametrised tables."""

from __future__ import annotations

import pytest

from pytest_flopguard.budget import units
from pytest_flopguard.metrics import METRICS


@pytest.mark.parametrize(
    ("metric", "raw", "expected"),
    [
        ("flops", "1.2G", 1_200_000_000),
        ("flops", "1.2GFLOPs", 1_200_000_000),
        ("flops", "4.1 G", 4_100_000_000),
        ("flops", 0, 0),
        ("flops", 1000, 1000),
        ("flops", "850K", 850_000),
        ("flops", "850k", 850_000),
        ("flops", "2T", 2_000_000_000_000),
        ("macs", "3GMACs", 3_000_000_000),
        ("params", "3.5M", 3_500_000),
        ("params", "25.6M", 25_600_000),
        ("params", "1e3", 1000),
        ("memory_access", "40MB", 40_000_000),
        ("memory_access", "40MiB", 41_943_040),
        ("memory_access", "1.5GiB", 1_610_612_736),
        ("memory_access", "512B", 512),
        ("memory_access", "2kB", 2000),
        ("memory_access", 123, 123),
        ("latency", "25ms", 0.025),
        ("latency", "250us", 0.00025),
        ("latency", "250µs", 0.00025),
        ("latency", "1.5s", 1.5),
    ],
)
def test_parse_valid(metric: str, raw: object, expected: float) -> None:
    assert units.parse_metric_value(METRICS[metric], raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "raw", "message"),
    [
        ("flops", "4.1 GB", "'4.1 GB' is a byte size, but flops takes a count"),
        ("flops", "4.1GMACs", "'4.1GMACs' is in MACs, but flops is counted in FLOPs (1 MAC = 2 FLOPs)"),
        ("macs", "3GFLOPs", "'3GFLOPs' is in FLOPs, but macs is counted in MACs (1 MAC = 2 FLOPs)"),
        ("flops", "25ms", "'25ms' is a duration, but flops takes a count"),
        ("flops", "1.2g", "'1.2g' has an unknown unit 'g'; flops takes a count"),
        ("flops", "-1G", "'-1G' is negative"),
        ("flops", "lots", "'lots' is not a number with a unit"),
        ("flops", True, "True is a boolean, not a quantity"),
        ("memory_access", "40M", "'40M' is a count, but memory_access takes a byte size"),
        ("memory_access", "40", "'40' has no unit, but memory_access takes a byte size"),
        ("latency", 25, "25 has no unit, but latency takes a duration"),
        ("latency", "25MB", "'25MB' is a byte size, but latency takes a duration"),
        ("flops", float("inf"), "inf is not a finite number"),
    ],
)
def test_parse_invalid(metric: str, raw: object, message: str) -> None:
    with pytest.raises(units.UnitError) as info:
        units.parse_metric_value(METRICS[metric], raw)
    assert info.value.message == message
    assert info.value.fix


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.5%", 0.005), ("0%", 0.0), (0, 0.0), ("10%", 0.1), ("12.5 %", 0.125)],
)
def test_parse_percent(raw: object, expected: float) -> None:
    assert units.parse_percent(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "fix"),
    [(0.05, "write 0.05% (or 5% if you meant a fraction)"), ("5", "write 5% (or 500% if you meant a fraction)")],
)
def test_bare_percent_is_ambiguous(raw: object, fix: str) -> None:
    with pytest.raises(units.UnitError) as info:
        units.parse_percent(raw)
    assert info.value.fix == fix


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (999, "999"),
        (999.6, "1K"),
        (1000, "1K"),
        (850_000, "850K"),
        (1_234_567, "1.23M"),
        (25_600_000, "25.6M"),
        (1_200_000_000, "1.2G"),
        (4_089_184_256, "4.09G"),
        (6_903_086_000_000, "6.9T"),
        (-1_500_000, "-1.5M"),
    ],
)
def test_format_count(value: float, expected: str) -> None:
    assert units.format_count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0B"), (512, "512B"), (2000, "2kB"), (40_000_000, "40MB"), (41_943_040, "41.9MB"), (1_610_612_736, "1.61GB")],
)
def test_format_bytes(value: float, expected: str) -> None:
    assert units.format_bytes(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(0.025, "25ms"), (0.0251234, "25.1ms"), (1.5, "1.5s"), (0.00025, "250us"), (3e-8, "30ns")]
)
def test_format_time(value: float, expected: str) -> None:
    assert units.format_time(value) == expected


@pytest.mark.parametrize(
    ("fraction", "signed", "expected"),
    [(0.0412, True, "+4.12%"), (-0.005, True, "-0.5%"), (0, True, "0%"), (0.97, False, "97%")],
)
def test_format_percent(fraction: float, signed: bool, expected: str) -> None:
    assert units.format_percent(fraction, signed=signed) == expected


@pytest.mark.parametrize(
    ("kind", "delta", "expected"), [("count", 220_000_000, "+220M"), ("bytes", -40_000, "-40kB"), ("count", 0, "0")]
)
def test_format_delta(kind: units.Kind, delta: float, expected: str) -> None:
    assert units.format_delta(kind, delta) == expected


@pytest.mark.parametrize("text", ["1.2G", "3.5M", "40MB", "25ms", "850K"])
def test_round_trip(text: str) -> None:
    """What we print parses back to the same value."""
    for name in ("flops", "memory_access", "latency"):
        metric = METRICS[name]
        try:
            value = units.parse_metric_value(metric, text)
        except units.UnitError:
            continue
        assert units.parse_metric_value(metric, units.format_value(metric.kind, value)) == pytest.approx(value)
