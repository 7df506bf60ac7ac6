"""The per-model figures of a budget entry: `device`, `limits`, `tolerance`, `floor`.

```yaml
defaults:
  device: cpu                          # where a `latency` that names no device is timed
  tolerance: {flops: 0%, latency: 5%}
models:
  classifier:
    limits: {flops: 1.2G, latency: 25ms, latency_estimate: {jetson-orin-nano: 4ms}}
    floor: {flops: 1M}
```
Limits are flat keys: `flops`, `latency.cpu`, `latency_estimate.t4`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import yaml

from pytest_flopguard.budget import units
from pytest_flopguard.budget.devices import SHIPPED
from pytest_flopguard.budget.nodes import Ctx, mapping, quantity, string
from pytest_flopguard.budget.schema import LATENCY_DEVICE
from pytest_flopguard.metrics import METRICS


def parse_device(ctx: Ctx | None, node: yaml.Node | None, path: str) -> str:
    """`device:`, where `latency` is measured when a limit names no device; errors go to `ctx` if given."""
    if not isinstance(node, yaml.ScalarNode):
        if node is not None and ctx is not None:
            string(ctx, node, f"{path}.device", "a device name such as cpu or cuda")
        return "cpu"
    if LATENCY_DEVICE.match(node.value):
        return str(node.value)
    if ctx is not None:
        ctx.error(
            "FG118",
            node,
            f"{path}.device",
            f"latency is measured on `cpu`, `cuda` or `cuda:N`, not {node.value!r}",
            "for a device this runner does not have, use `latency_estimate: {NAME: ...}` with a profile",
        )
    return "cpu"


def merged(
    ctx: Ctx,
    parse: Callable[..., dict[str, float]],
    default: yaml.Node | None,
    own: yaml.Node | None,
    path: str,
    section: str,
) -> dict[str, float]:
    merged = parse(ctx, default, f"defaults.{section}") if default is not None else {}
    return {**merged, **(parse(ctx, own, f"{path}.{section}") if own is not None else {})}


def parse_limits(ctx: Ctx, node: yaml.Node, path: str, *, device: str) -> dict[str, float]:
    """`limits:`; a `latency` that names no device is on the entry's `device`."""
    out: dict[str, float] = {}
    for key, value in (mapping(ctx, node, path, tuple(METRICS)) or {}).items():
        metric = METRICS[key]
        if key == "latency" and isinstance(value, yaml.ScalarNode):
            parsed = quantity(ctx, value, f"{path}.{key}", partial(units.parse_time, subject=key))
            if parsed is not None:
                out[f"{key}.{device}"] = parsed
            continue
        if metric.per_device and isinstance(value, yaml.ScalarNode):
            ctx.error(
                "FG112",
                value,
                f"{path}.{key}",
                f"{key} limits name a device profile",
                f"write `{key}: {{NAME: {value.value}}}` with NAME a shipped profile "
                f"({', '.join(sorted(SHIPPED))}) or one under `devices:`",
            )
            continue
        if metric.per_device:
            for device, sub in (mapping(ctx, value, f"{path}.{key}", None) or {}).items():
                parsed = quantity(ctx, sub, f"{path}.{key}.{device}", partial(units.parse_time, subject=key))
                if parsed is not None:
                    out[f"{key}.{device}"] = parsed
            continue
        parsed = quantity(ctx, value, f"{path}.{key}", partial(units.parse_metric_value, metric))
        if parsed is not None:
            out[key] = parsed
    return out


def parse_tolerance(ctx: Ctx, node: yaml.Node, path: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (mapping(ctx, node, path, tuple(METRICS)) or {}).items():
        parsed = quantity(ctx, value, f"{path}.{key}", units.parse_percent)
        if parsed is not None:
            out[key] = parsed
    return out


def parse_floor(ctx: Ctx, node: yaml.Node, path: str) -> dict[str, float]:
    """`floor: {flops: 1M, latency: 0.2ms}`: one figure per metric, in its unit (all devices alike)."""
    out: dict[str, float] = {}
    for key, value in (mapping(ctx, node, path, tuple(METRICS)) or {}).items():
        metric = METRICS[key]
        parse = (
            partial(units.parse_time, subject=f"a {key} floor")
            if metric.per_device
            else partial(units.parse_metric_value, metric)
        )
        parsed = quantity(ctx, value, f"{path}.{key}", parse)
        if parsed is not None:
            out[key] = parsed
    return out


def limit_lines(device: str, *nodes: yaml.Node | None) -> dict[str, int]:
    """Line of each limit, the model's own entry winning over defaults."""
    lines: dict[str, int] = {}
    for node in reversed([n for n in nodes if isinstance(n, yaml.MappingNode)]):
        for key, sub_key, value in _walk_limits(node):
            flat = f"{key}.{sub_key or device}" if key == "latency" else f"{key}.{sub_key}" if sub_key else key
            lines[flat] = value.start_mark.line + 1
    return lines


def _walk_limits(node: yaml.MappingNode) -> Iterator[tuple[str, str, yaml.Node]]:
    for key_node, value in node.value:
        key = str(key_node.value)
        if isinstance(value, yaml.MappingNode):
            for sub_key, sub_value in value.value:
                yield key, str(sub_key.value), sub_value
        else:
            yield key, "", key_node
