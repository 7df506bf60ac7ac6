"""The history keys of a model entry (or `defaults:`): drift limits, their reference point, the ratchet.

```yaml
defaults:
  drift: {flops: 10%}      # growth since the oldest recorded figure, per metric
  since: v1.2              # a tag or commit in the history: the reference from there on
  drift_window: 90d        # or only the entries of the last 90 days (w: weeks)
  ratchet: true            # growth is judged against the best recorded figure
```

The entry's own keys win over `defaults:`'s; `drift:` merges per metric like
`tolerance:`. Whether `since:` names a commit of the history is known only
when the history is read (`run/history.py`): that error, too, names this line.
"""

from __future__ import annotations

import re

import yaml

from pytest_flopguard.budget.limits import merged, parse_tolerance
from pytest_flopguard.budget.nodes import Ctx, choice, string
from pytest_flopguard.budget.schema import HistorySpec

KEYS = ("drift", "since", "drift_window", "ratchet")
_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)\s*(d|w)$")


def parse_history(ctx: Ctx, fields: dict[str, yaml.Node], defaults: dict[str, yaml.Node], path: str) -> HistorySpec:
    def own_or_default(key: str) -> tuple[yaml.Node | None, str]:
        if key in fields:
            return fields[key], f"{path}.{key}"
        return defaults.get(key), f"defaults.{key}"

    since_node, since_path = own_or_default("since")
    window_node, window_path = own_or_default("drift_window")
    ratchet_node, ratchet_path = own_or_default("ratchet")
    return HistorySpec(
        drift=merged(ctx, parse_tolerance, defaults.get("drift"), fields.get("drift"), path, "drift"),
        since=string(ctx, since_node, since_path, "a tag or commit, e.g. v1.2") if since_node is not None else None,
        since_line=since_node.start_mark.line + 1 if since_node is not None else None,
        window_days=_window(ctx, window_node, window_path) if window_node is not None else None,
        ratchet=ratchet_node is not None and choice(ctx, ratchet_node, ratchet_path, ("true", "false"), "FG149") == "true",
    )


def _window(ctx: Ctx, node: yaml.Node, path: str) -> float | None:
    text = str(getattr(node, "value", "")).strip()
    match = _WINDOW.match(text)
    if match is None or float(match.group(1)) <= 0:
        ctx.error("FG149", node, path, f"{text!r} is not a number of days or weeks", "write e.g. 90d or 12w")
        return None
    return float(match.group(1)) * (7 if match.group(2) == "w" else 1)
