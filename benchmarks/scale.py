"""How the cost of `pytest --flopguard` grows with the model zoo.

A generated repository of N models (each in its own module; mixed sizes:
MLPs, small CNNs, small transformers, and one 1B-parameter transformer that
hybrid execution counts on the meta device) is measured

- serially: `pytest --flopguard` (which also writes the baseline file),
- with two xdist workers: `pytest --flopguard -n 2`,
- change-only: one model's file edited, `--flopguard-baseline` reuses the others,

and, for our overhead, an "empty" zoo of N one-layer models measured serially.
Each run is a fresh process: wall time, and the peak RSS of its largest
process. Overhead per model = (wall - the sum of the per-model measuring time
that the results file records) / N: pytest, collection, the budget, the report,
the torch import - everything but counting the models themselves.

    python benchmarks/scale.py                 # N = 10, 50
    python benchmarks/scale.py --n 10 50 200 --write   # update benchmarks/README.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = "<!-- scale:start -->", "<!-- scale:end -->"

BIG = """import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d, f, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, f), nn.Linear(f, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class Decoder(nn.Module):
    def __init__(self, vocab, d, f, layers, heads):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, f, heads) for _ in range(layers))
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def build(vocab={vocab}, d={d}, f={f}, layers={layers}, heads={heads}):
    return Decoder(vocab, d, f, layers, heads)
"""

CNN = """from torch import nn


def build(width={width}):
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10),
    )
"""

MLP = """from torch import nn


def build(width={width}):
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
"""

EMPTY = """from torch import nn


def build():
    return nn.Linear(1, 1)
"""


def zoo(root: Path, n: int, empty: bool = False) -> None:
    """N models: #0 the 1B transformer, then MLP, CNN, small transformer in turn."""
    models = root / "models"
    models.mkdir(parents=True)
    (models / "__init__.py").write_text("")
    entries = []
    for i in range(n):
        name = f"m{i:03d}"
        if empty:
            source, inputs = EMPTY, "[[1, 1]]"
        elif i == 0:  # ~1.0B parameters: 20 x (4*2048^2 + 2*2048*8192) + 2 * 32000*2048
            source = BIG.format(vocab=32000, d=2048, f=8192, layers=20, heads=16)
            inputs = "\n      ids: {shape: [1, 128], dtype: int64}"
        elif i % 3 == 1:
            source, inputs = MLP.format(width=64 + 16 * (i % 7)), "[[8, 64]]"
        elif i % 3 == 2:
            source, inputs = CNN.format(width=8 + 4 * (i % 5)), "[[1, 3, 32, 32]]"
        else:
            source = BIG.format(vocab=1000, d=64 + 32 * (i % 3), f=256, layers=2, heads=4)
            inputs = "\n      ids: {shape: [1, 64], dtype: int64}"
        (models / f"{name}.py").write_text(source)
        entries.append(f"  {name}:\n    model: models.{name}:build\n    inputs: {inputs}\n")
    (root / "flopguard.yaml").write_text("version: 1\nmodels:\n" + "".join(entries))


def run(root: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, largest process) of one pytest session."""
    probe = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--flopguard", "--flopguard-no-latency"]
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", probe, *command, *args], cwd=root, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    code, rss = out.stdout.split()
    if code not in ("0", "1"):  # 1: the change-only run's edited model regressed, as intended
        raise SystemExit(f"pytest {' '.join(args)} exited {code} in {root}")
    return wall, int(rss) / 1024


def measured_seconds(path: Path) -> tuple[float, int]:
    """Sum of the per-model measuring time recorded in a results file, and how many models were reused."""
    models = json.loads(path.read_text())["models"].values()
    return sum(m.get("seconds") or 0.0 for m in models), sum(bool(m.get("reused")) for m in models)


def bench(n: int, workers: int) -> dict[str, float]:
    row: dict[str, float] = {"n": n}
    with tempfile.TemporaryDirectory(prefix="flopguard-scale-") as tmp:
        root = Path(tmp) / "zoo"
        zoo(root, n)
        row["serial"], row["serial_rss"] = run(root, "--flopguard-json", "serial.json", "--flopguard-update")
        row["counted"], _ = measured_seconds(root / "serial.json")
        row["xdist"], row["xdist_rss"] = run(root, "-n", str(workers), "--flopguard-json", "xdist.json")
        edited = root / "models" / "m001.py"
        edited.write_text(edited.read_text().replace("nn.Linear(64, width)", "nn.Linear(64, 2 * width)"))
        row["changed"], row["changed_rss"] = run(
            root, "--flopguard-baseline", "flopguard-baseline.json", "--flopguard-json", "changed.json"
        )
        _, row["reused"] = measured_seconds(root / "changed.json")
        empty = Path(tmp) / "empty"
        zoo(empty, n, empty=True)
        row["empty"], _ = run(empty, "--flopguard-json", "empty.json")
    row["overhead"] = (row["serial"] - row["counted"]) / n
    return row


def table(rows: list[dict[str, float]], workers: int) -> str:
    cores = os.cpu_count()
    torch_version = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    lines = [
        f"torch {torch_version}, Python {platform.python_version()}, {cores} cores (a shared machine: "
        "other jobs ran beside it, so take the times as ±20%); latency off (`--flopguard-no-latency`).",
        "",
        f"| N | serial | `-n {workers}` | change-only (1 edited) | reused | peak RSS serial / `-n {workers}` / change-only "
        "| counting (Σ per model) | our overhead per model | empty zoo (N one-layer models) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['n'])} | {r['serial']:.1f} s | {r['xdist']:.1f} s | {r['changed']:.1f} s | "
            f"{int(r['reused'])}/{int(r['n'])} | {r['serial_rss']:.0f} / {r['xdist_rss']:.0f} / {r['changed_rss']:.0f} MB | "
            f"{r['counted']:.1f} s | {1000 * r['overhead']:.0f} ms | {r['empty']:.1f} s |"
        )
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = HERE / "README.md"
    old = readme.read_text()
    block = f"{START}\n{text}\n{END}"
    if START in old:
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + SECTION + "\n" + block + "\n"
    readme.write_text(new)


SECTION = """## Scale: the model zoo, serial, with xdist, and change-only (`scale.py`)

A generated repository of N models, each in its own module (MLPs, small CNNs,
small transformers, and one 1B-parameter transformer that hybrid execution
counts on the meta device), measured by `pytest --flopguard` in a fresh
process: serially, with `-n 2` xdist workers, and change-only (one model's
file edited, the others' figures reused from the baseline file). "Counting" is
the sum of the per-model measuring time recorded in the results file (the
first model also pays the torch import); our overhead per model is the rest of
the wall time, divided by N. The "empty zoo" is the wall time of N one-layer
models: the fixed cost (interpreter, pytest, the torch import) plus ours.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update the table in benchmarks/README.md")
    args = parser.parse_args()
    rows = []
    for n in args.n:
        rows.append(bench(n, args.workers))
        print(rows[-1], file=sys.stderr, flush=True)
    text = table(rows, args.workers)
    print(text)
    if args.write:
        write_readme(text)


if __name__ == "__main__":
    main()
