"""Does the latency gate cry wolf? False alarms and detection rates, measured.

Runs the gate's own base/head decision (`pytest_flopguard.workers.latency_pair.
compare_latency`: two worker processes taking 0.1 s turns, a Mann-Whitney
interval on the head/base ratio, a flag confirmed in fresh processes) many
times on this machine, while a busy-loop process it starts keeps one core
busy (a neighbour on a shared CI runner):

- A/A: base and head identical; every "regressed" is a false alarm;
- +10% and +40%: the head sleeps that fraction of its own compute time on
  each call, so its FLOPs are unchanged and only its latency grows.

    python benchmarks/latency_gate.py                          # 100 decisions each, 10 s per decision
    python benchmarks/latency_gate.py --pairs 10 --seconds 4   # a quick look
    python benchmarks/latency_gate.py --write                  # ...and update benchmarks/README.md

The workload is an MLP of about 9 ms per call (one thread), like the ones in
notes/latency.md. Nothing here asserts: it prints figures, and the figures
depend on the machine and its neighbours.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pytest_flopguard.workers.latency_pair import Side, compare_latency  # noqa: E402

MODELS = '''
import time
import torch


class Mlp(torch.nn.Module):
    """Three 1024-wide layers on a batch of 128: 0.8 GFLOP, about 9 ms on one core."""

    def __init__(self, slow: float = 0.0) -> None:
        super().__init__()
        layers = [torch.nn.Linear(1024, 1024) for _ in range(3)]
        self.net = torch.nn.Sequential(*[m for layer in layers for m in (layer, torch.nn.ReLU())])
        self.slow = slow

    def forward(self, x):
        start = time.perf_counter()
        out = self.net(x)
        if self.slow:  # FLOPs unchanged: wait a fraction of this call's own compute time
            time.sleep(self.slow * (time.perf_counter() - start))
        return out
'''
BUDGET = """version: 1
models:
  mlp:
    model: models:Mlp
    kwargs: {{slow: {slow}}}
    inputs: [[128, 1024]]
    limits: {{latency: {{cpu: 10s}}}}
"""
CONDITIONS = {"A/A": 0.0, "+10%": 0.10, "+40%": 0.40}


@dataclass
class Tally:
    verdicts: Counter[str] = field(default_factory=Counter)
    ratios: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    unconfirmed: int = 0  # flagged once, not by the fresh processes: what the confirmation saved

    def row(self, name: str) -> str:
        n = sum(self.verdicts.values())
        flagged = self.verdicts["regressed"]
        rate = f"{flagged}/{n} ({flagged / n:.0%})"
        what = "false alarms" if name == "A/A" else "detected"
        quantiles = statistics.quantiles(self.ratios, n=10) if len(self.ratios) > 1 else self.ratios * 9
        spread = f"{quantiles[0]:.3f}–{quantiles[-1]:.3f}" if self.ratios else "—"
        return (
            f"| {name} | {what} {rate} | {self.verdicts['ok']} | {self.verdicts['inconclusive']} | {self.unconfirmed} | "
            f"{spread} | {statistics.mean(self.seconds):.1f} s |"
        )


def main() -> int:
    args = _parser().parse_args()
    with tempfile.TemporaryDirectory(prefix="flopguard-latency-bench-") as tmp:
        sides = {name: _side(Path(tmp), name, slow) for name, slow in CONDITIONS.items()}
        base = _side(Path(tmp), "base", 0.0)
        tallies = {name: Tally() for name in args.conditions}
        with _busy_core(args.busy):
            for i in range(args.pairs):  # conditions interleaved, so drifts of the machine hit all alike
                for name in args.conditions:
                    _decide(base, sides[name], args, tallies[name])
                print(f"pair {i + 1}/{args.pairs} done", file=sys.stderr, flush=True)
                if (i + 1) % 10 == 0 and i + 1 < args.pairs:  # a long run shows where it stands
                    print(_table(tallies, args), file=sys.stderr, flush=True)
    table = _table(tallies, args)
    print(table)
    if args.write:
        _write(table)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=100, help="decisions per condition (default 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per decision (default 10)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="regression tolerance (default 0.05)")
    parser.add_argument("--no-busy", dest="busy", action="store_false", help="no busy-loop neighbour")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--write", action="store_true", help="update the table in benchmarks/README.md")
    return parser


def _side(root: Path, name: str, slow: float) -> Side:
    folder = root / name.replace("/", "").replace("%", "").replace("+", "slow")
    folder.mkdir()
    (folder / "models.py").write_text(MODELS)
    (folder / "flopguard.yaml").write_text(BUDGET.format(slow=slow))
    return Side(folder / "flopguard.yaml")


def _decide(base: Side, head: Side, args: argparse.Namespace, tally: Tally) -> None:
    started = time.monotonic()
    _, figures = compare_latency(base, head, "mlp", "cpu", args.seconds, args.tolerance)
    tally.seconds.append(time.monotonic() - started)
    versus = figures.versus_base
    assert versus is not None
    tally.verdicts[versus.verdict] += 1
    tally.unconfirmed += versus.confirmed is False
    if versus.ratio is not None:
        tally.ratios.append(versus.ratio)


@contextlib.contextmanager
def _busy_core(enabled: bool) -> Iterator[None]:
    """A neighbour that keeps one core busy, started and stopped here."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def _table(tallies: dict[str, Tally], args: argparse.Namespace) -> str:
    import torch

    neighbour = "one core kept busy by a busy-loop process" if args.busy else "no added neighbour"
    decisions = min(len(tally.seconds) for tally in tallies.values())
    lines = [
        f"{os.cpu_count()} cores, torch {torch.__version__}, {neighbour}; {decisions} decisions per condition, "
        f"{args.seconds:g} s each (a flag is re-measured in fresh processes, which adds to the time), "
        f"tolerance {args.tolerance:.0%}, an MLP of ~9 ms per call on one thread.",
        "",
        "| head vs base | flagged regressed | ok | inconclusive | of which unconfirmed flags | ratio p10–p90 "
        "| time per decision |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    return "\n".join(lines + [tally.row(name) for name, tally in tallies.items()])


def _write(table: str) -> None:
    readme = REPO / "benchmarks" / "README.md"
    start, end = "<!-- latency_gate:start -->", "<!-- latency_gate:end -->"
    text = readme.read_text(encoding="utf-8")
    if start not in text:
        text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
