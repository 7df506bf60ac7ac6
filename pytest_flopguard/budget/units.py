"""All number parsing and human formatting: counts, bytes, times, percents.

Parsing is strict. A quantity of the wrong kind (`4.1 GB` for a FLOPs limit),
an unknown suffix, a negative value or a bare number whose unit is ambiguous
(`25` for a latency) raises `UnitError` with the reason and a suggested
spelling; the budget loader adds the file, line and key path.

Counts are decimal SI (`850K`, `25.6M`, `4.1G`, optionally followed by
`FLOPs` or `MACs` where that is the metric). Bytes are decimal (`kB`/`KB`,
`MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`). Times are `ns`,
`us`/`µs`, `ms`, `s`. Tolerances are percents (`0.5%`). Device profiles
take throughputs (`1.2T`, `65TFLOPS`, `130 TOP/s`) and bandwidths (`68GB/s`).
"""

from __future__ import annotations

import math
import re

from pytest_flopguard.metrics import Kind, Metric

__all__ = ["Kind", "UnitError", "format_value", "parse_metric_value"]

COUNT_PREFIX = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
BYTE_UNITS = {
    "B": 1,
    **{p + "B": m for p, m in (("k", 10**3), ("K", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12))},
    **{p + "iB": 1024**i for i, p in enumerate(("K", "M", "G", "T"), start=1)},
}
# Units per second: dividing gives the nearest float (9ms -> 0.009, not 0.009000000000000001).
UNITS_PER_SECOND = {"ns": 1e9, "us": 1e6, "µs": 1e6, "ms": 1e3, "s": 1.0}

_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-zµ%]*)\s*$")


class UnitError(ValueError):
    """A value that does not parse; `fix` suggests a valid spelling."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def parse_metric_value(metric: Metric, raw: object) -> float | int:
    """Parse a limit for `metric`: ints for counts and bytes, seconds for times."""
    if metric.kind == "count":
        return parse_count(raw, metric)
    if metric.kind == "bytes":
        return parse_bytes(raw, metric.name)
    return parse_time(raw, metric.name)


def parse_count(raw: object, metric: Metric | None = None) -> int:
    """`'1.2G'` -> 1_200_000_000; `'3.5M'` -> 3_500_000; `'4.1GFLOPs'` for flops."""
    number, unit = _split(raw)
    word = metric.unit_word if metric else ""
    prefix = unit[: -len(word)] if word and unit.endswith(word) else unit
    for other in ("FLOPs", "MACs"):
        if other != word and unit.endswith(other) and unit[: -len(other)] in COUNT_PREFIX:
            name = metric.name if metric else "this metric"
            raise UnitError(
                f"{raw!r} is in {other}, but {name} is counted in {word or 'plain numbers'} (1 MAC = 2 FLOPs)",
                f"convert it, or write a plain count such as {_example(number, unit[: -len(other)])}",
            )
    if prefix not in COUNT_PREFIX:
        raise UnitError(
            _wrong_unit(raw, unit, "a count", metric.name if metric else "this key"),
            f"write a count such as {_example(number, 'G', word)}",
        )
    return _non_negative_int(number * COUNT_PREFIX[prefix], raw)


def parse_bytes(raw: object, subject: str = "this key") -> int:
    """`'40MB'` -> 40_000_000; `'1GiB'` -> 1_073_741_824; a bare int is bytes."""
    number, unit = _split(raw)
    if unit == "" and isinstance(raw, int):
        return _non_negative_int(number, raw)
    if unit not in BYTE_UNITS:
        raise UnitError(
            _wrong_unit(raw, unit, "a byte size", subject),
            f"write a size such as {_example(number, 'MB')} or {_example(number, 'MiB')}",
        )
    return _non_negative_int(number * BYTE_UNITS[unit], raw)


def parse_time(raw: object, subject: str = "this key") -> float:
    """`'25ms'` -> 0.025 (seconds); a bare number is refused as ambiguous."""
    number, unit = _split(raw)
    if unit not in UNITS_PER_SECOND:
        raise UnitError(
            _wrong_unit(raw, unit, "a duration", subject), f"write a duration such as {_example(number, 'ms')}"
        )
    if number < 0:
        raise UnitError(f"{raw!r} is negative", "durations are zero or more")
    return number / UNITS_PER_SECOND[unit]


_RATE_WORDS = {True: ("FLOPs", "FLOP", "OPs", "OP"), False: ("FLOPS", "OPS", "")}


def parse_rate(raw: object, subject: str = "a peak") -> float:
    """Operations per second: `'1.2T'`, `'65TFLOPS'`, `'130 TOP/s'` -> 1.2e12, 6.5e13, 1.3e14."""
    text, per_second = _per_second(raw)
    number, unit = _split(text)
    for word in _RATE_WORDS[per_second]:
        prefix = unit[: len(unit) - len(word)] if unit.endswith(word) else None
        if prefix in COUNT_PREFIX and (unit or not per_second):
            if number < 0:
                raise UnitError(f"{raw!r} is negative", "peaks are positive, e.g. 1.2TFLOPS")
            return number * COUNT_PREFIX[prefix]
    kind = "a bandwidth" if per_second and unit in BYTE_UNITS else _kind_of_unit(unit)
    problem = f"{raw!r} is {kind}" if kind else f"{raw!r} is not a throughput"
    raise UnitError(
        f"{problem}, but {subject} takes operations per second",
        f"write a throughput such as {_example(number, 'T')}, {_example(number, 'TFLOPS')} or {_example(number, 'TOP/s')}",
    )


def parse_bandwidth(raw: object, subject: str = "bandwidth") -> float:
    """Bytes per second: `'68GB/s'` -> 6.8e10; `'1.5TB/s'`, `'100GiB/s'`."""
    text, per_second = _per_second(raw)
    number, unit = _split(text)
    if not per_second or unit not in BYTE_UNITS:
        kind = "a byte size" if unit in BYTE_UNITS else _kind_of_unit(unit) if unit else None
        problem = f"{raw!r} is {kind}" if kind else f"{raw!r} has no byte unit per second"
        raise UnitError(f"{problem}, but {subject} takes bytes per second", f"write e.g. {_example(number, 'GB/s')}")
    if number < 0:
        raise UnitError(f"{raw!r} is negative", "bandwidths are positive, e.g. 68GB/s")
    return float(number * BYTE_UNITS[unit])


def _per_second(raw: object) -> tuple[object, bool]:
    """`'68GB/s'` -> (`'68GB'`, True); anything else unchanged."""
    if isinstance(raw, str) and raw.rstrip().endswith("/s"):
        return raw.rstrip()[:-2], True
    return raw, False


def parse_percent(raw: object) -> float:
    """`'0.5%'` -> 0.005; plain `0` is allowed, other bare numbers are ambiguous."""
    number, unit = _split(raw)
    if unit == "" and number == 0:
        return 0.0
    if unit != "%":
        raise UnitError(
            _wrong_unit(raw, unit, "a percentage", "a tolerance"),
            f"write {_example(number, '%')} (or {_example(number * 100, '%')} if you meant a fraction)",
        )
    if number < 0:
        raise UnitError(f"{raw!r} is negative", "tolerances are zero or more, e.g. 0.5%")
    return number / 100


def _split(raw: object) -> tuple[float, str]:
    if isinstance(raw, bool):
        raise UnitError(f"{raw!r} is a boolean, not a quantity", "write a number with its unit, e.g. 1.2G")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise UnitError(f"{raw!r} is not a finite number", "write a finite number")
        return float(raw), ""
    if not isinstance(raw, str):
        raise UnitError(
            f"expected a number with a unit, got {type(raw).__name__}", "write a quantity such as 1.2G, 40MB or 25ms"
        )
    match = _QUANTITY.match(raw)
    if not match:
        raise UnitError(f"{raw!r} is not a number with a unit", "write a quantity such as 1.2G, 40MB, 25ms or 0.5%")
    return float(match.group(1)), match.group(2)


def _non_negative_int(value: float, raw: object) -> int:
    if value < 0:
        raise UnitError(f"{raw!r} is negative", "limits are zero or more")
    return round(value)


def _wrong_unit(raw: object, unit: str, wanted: str, subject: str = "this key") -> str:
    kind = _kind_of_unit(unit)
    if not unit:
        return f"{raw!r} has no unit, but {subject} takes {wanted}"
    if kind:
        return f"{raw!r} is {kind}, but {subject} takes {wanted}"
    return f"{raw!r} has an unknown unit {unit!r}; {subject} takes {wanted}"


def _kind_of_unit(unit: str) -> str | None:
    if unit in BYTE_UNITS:
        return "a byte size"
    if unit in UNITS_PER_SECOND:
        return "a duration"
    if unit == "%":
        return "a percentage"
    for word in ("FLOPs", "MACs", ""):
        if unit.endswith(word) and unit[: len(unit) - len(word)] in COUNT_PREFIX:
            return "a count"
    return None


def _example(number: float, unit: str, word: str = "") -> str:
    return f"{format_number(number)}{unit}{word}"


# --- formatting ---------------------------------------------------------------


def format_number(value: float, digits: int = 3) -> str:
    """Up to `digits` significant digits, no trailing zeros: 1.2, 25.6, 850."""
    if value == 0:
        return "0"
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_count(value: float, digits: int = 3) -> str:
    """`1_234_567_890` -> `1.23G`; below 1000 the plain number."""
    for prefix, mult in (("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= mult * 0.9995:
            return format_number(value / mult, digits) + prefix
    return format_number(value, digits)


def format_bytes(value: float, digits: int = 3) -> str:
    """Decimal sizes, as in budget files: `40_000_000` -> `40MB`."""
    for unit, mult in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(value) >= mult * 0.9995:
            return format_number(value / mult, digits) + unit
    return format_number(value, digits) + "B"


def format_time(seconds: float, digits: int = 3) -> str:
    """`0.0251` -> `25.1ms`."""
    for unit, mult in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= mult * 0.9995:
            return format_number(seconds / mult, digits) + unit
    return format_number(seconds / 1e-9, digits) + "ns"


def format_rate(ops_per_second: float, word: str = "FLOP/s") -> str:
    """`8.1e12` -> `8.1TFLOP/s`."""
    return format_count(ops_per_second) + word


def format_bandwidth(bytes_per_second: float) -> str:
    """`3.2e11` -> `320GB/s`."""
    return format_bytes(bytes_per_second) + "/s"


def format_percent(fraction: float, signed: bool = False) -> str:
    """`0.0412` -> `4.12%`; with `signed`, `+4.12%` / `-0.5%`."""
    text = format_number(fraction * 100) + "%"
    return ("+" + text) if signed and fraction > 0 else text


def format_value(kind: Kind, value: float, digits: int = 3) -> str:
    """Format a metric value by its kind."""
    if kind == "count":
        return format_count(value, digits)
    if kind == "bytes":
        return format_bytes(value, digits)
    return format_time(value, digits)


def format_delta(kind: Kind, delta: float) -> str:
    """A signed difference: `+1.2M`, `-40kB`, `0`."""
    if delta == 0:
        return "0"
    sign = "+" if delta > 0 else "-"
    return sign + format_value(kind, abs(delta))


def format_resolution(size: tuple[int, int]) -> str:
    """An image size as variant ids write it: `(448, 448)` -> `448`; `(384, 640)` -> `384x640`."""
    return str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"
