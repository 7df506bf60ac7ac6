"""The latency parts of a budget file: `devices:`, `timing:`, and which devices limits name.

```yaml
devices:                      # your own profiles for latency_estimate (override shipped ones)
  my-npu: {fp32: 1.2T, fp16: 4.8T, int8: 9.6TOPS, bandwidth: 68GB/s, title: "Acme NPU v2"}
defaults:
  timing: {threads: 1, time: 10s}
models:
  classifier:
    limits:
      latency: {cpu: 25ms, cuda: 2ms}
      latency_estimate: {jetson-orin-nano: 4ms, my-npu: 2ms}
```
`fp16` defaults to `fp32`, `int8` to `fp16`. Called by `loader.py` and `entries.py`, which
own the walk over the YAML nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import yaml

from pytest_flopguard.budget import units
from pytest_flopguard.budget.devices import SHIPPED, DeviceProfile
from pytest_flopguard.budget.nodes import Ctx, mapping, node_text, quantity, string
from pytest_flopguard.budget.schema import LATENCY_DEVICE, TimingSpec
from pytest_flopguard.errors import BudgetError, Location, did_you_mean

PROFILE_KEYS = ("fp32", "fp16", "int8", "bandwidth", "title")
TIMING_KEYS = ("threads", "time")


def parse_devices(ctx: Ctx, node: yaml.Node | None) -> dict[str, DeviceProfile]:
    """The top-level `devices:` mapping: name -> profile."""
    out: dict[str, DeviceProfile] = {}
    for name, sub in (mapping(ctx, node, "devices", None) or {}).items():
        profile = _profile(ctx, name, sub, f"devices.{name}")
        if profile is not None:
            out[name] = profile
    return out


def _profile(ctx: Ctx, name: str, node: yaml.Node, path: str) -> DeviceProfile | None:
    fields = mapping(ctx, node, path, PROFILE_KEYS)
    if fields is None:
        return None
    missing = [key for key in ("fp32", "bandwidth") if key not in fields]
    if missing:
        ctx.error(
            "FG117",
            node,
            path,
            f"device profile {name!r} needs {' and '.join(f'`{k}`' for k in missing)}",
            "write e.g. `{fp32: 1.2T, fp16: 2.4T, int8: 4.8TOPS, bandwidth: 68GB/s}`",
        )
        return None
    peaks = {
        key: quantity(ctx, fields[key], f"{path}.{key}", partial(units.parse_rate, subject=key))
        for key in ("fp32", "fp16", "int8")
        if key in fields
    }
    bandwidth = quantity(ctx, fields["bandwidth"], f"{path}.bandwidth", units.parse_bandwidth)
    if None in peaks.values() or bandwidth is None:
        return None
    fp16 = peaks.get("fp16", peaks["fp32"])
    title = string(ctx, fields["title"], f"{path}.title", "a description") if "title" in fields else None
    source = f"`devices:` in {ctx.display}"
    return DeviceProfile(name, title or name, peaks["fp32"], fp16, peaks.get("int8", fp16), bandwidth, source)


def parse_timing(ctx: Ctx, node: yaml.Node | None, path: str, inherited: TimingSpec | None = None) -> TimingSpec:
    """`timing: {threads: 1, time: 10s}`; keys it leaves out come from `inherited` (the defaults)."""
    fields = mapping(ctx, node, path, TIMING_KEYS) or {}
    inherited = inherited or TimingSpec()
    threads = inherited.threads
    if "threads" in fields:
        value = fields["threads"]
        if not (isinstance(value, yaml.ScalarNode) and value.value.isdigit() and int(value.value) >= 1):
            ctx.error(
                "FG119",
                value,
                f"{path}.threads",
                f"threads must be an integer >= 1, got {node_text(value)!r}",
                "write e.g. `threads: 1`",
            )
        else:
            threads = int(value.value)
    time = inherited.time
    if "time" in fields:
        time = quantity(ctx, fields["time"], f"{path}.time", partial(units.parse_time, subject="timing.time"))
        if time is not None and time <= 0:
            ctx.error("FG119", fields["time"], f"{path}.time", "time must be more than 0", "write e.g. `time: 10s`")
            time = inherited.time
    return TimingSpec(threads, time)


def check_latency_limits(
    ctx: Ctx, limits: Mapping[str, float], lines: Mapping[str, int], known: Mapping[str, DeviceProfile], path: str
) -> dict[str, DeviceProfile]:
    """Report unknown latency devices and estimate targets; return the profiles the limits name."""
    chosen: dict[str, DeviceProfile] = {}
    for key in limits:
        metric, _, device = key.partition(".")
        where = Location(ctx.display, lines.get(key), f"{path}.limits.{key}")
        if metric == "latency" and not LATENCY_DEVICE.match(device):
            ctx.errors.append(
                BudgetError(
                    "FG118",
                    f"latency is measured on `cpu`, `cuda` or `cuda:N`, not {device!r}",
                    location=where,
                    fix=f"for a device this runner does not have, use `latency_estimate: {{{device}: ...}}` with a profile",
                    model=path.partition(".")[2],
                )
            )
        elif metric == "latency_estimate" and device in known:
            chosen[device] = known[device]
        elif metric == "latency_estimate":
            ctx.errors.append(_unknown_target(device, known, where, path))
    return chosen


def _unknown_target(name: str, known: Mapping[str, DeviceProfile], where: Location, path: str) -> BudgetError:
    guess = did_you_mean(name, tuple(known))
    hint = f"; did you mean {guess!r}?" if guess else ""
    return BudgetError(
        "FG116",
        f"no device profile named {name!r}{hint}",
        location=where,
        fix=f"use one of: {', '.join(sorted(SHIPPED))}, or add it under `devices:` "
        "(`{fp32: 1.2T, fp16: 2.4T, int8: 4.8TOPS, bandwidth: 68GB/s}`)",
        model=path.partition(".")[2],
    )
