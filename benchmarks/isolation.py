"""What the worker pool costs: 20 small models measured by the whole `flopguard measure`
process, through the pool and in-process, best of 3 runs each.

    python benchmarks/isolation.py [--write]

`--write` updates the section between `<!-- isolation:start -->` and
`<!-- isolation:end -->` in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = """import torch

def mlp(width):
    return torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))

def cnn(width):
    return torch.nn.Sequential(torch.nn.Conv2d(3, width, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))
"""


def make_repo(folder: Path, count: int = 20) -> Path:
    (folder / "small.py").write_text(MODELS)
    lines = ["version: 1", "models:"]
    for i in range(count):
        kind, shape = ("mlp", "[1, 64]") if i % 2 == 0 else ("cnn", "[1, 3, 32, 32]")
        lines += [
            f"  m{i:02}:",
            f"    model: small:{kind}",
            f"    kwargs: {{width: {16 + i}}}",
            f"    inputs: [{shape}]",
        ]
    budget = folder / "flopguard.yaml"
    budget.write_text("\n".join(lines) + "\n")
    return budget


def timed(budget: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_flopguard.cli",
            "measure",
            "--budget",
            str(budget),
            "--json",
            "out.json",
            *extra,
        ],
        cwd=budget.parent,
        env={**os.environ, "CI": "true"},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/README.md")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        budget = make_repo(Path(folder))
        pool, inproc = [], []
        for _ in range(args.runs):  # alternate, so both see the same neighbours
            inproc.append(timed(budget, "--in-process"))
            pool.append(timed(budget))
    best_pool, best_in = min(pool), min(inproc)
    table = "\n".join(
        [
            f"| path | best of {args.runs} (s) | all runs (s) |",
            "| --- | ---: | --- |",
            f"| in-process (`--in-process`) | {best_in:.2f} | {', '.join(f'{t:.2f}' for t in inproc)} |",
            f"| worker pool (default) | {best_pool:.2f} | {', '.join(f'{t:.2f}' for t in pool)} |",
            "",
            f"Pool / in-process: **{best_pool / best_in:.2f}x** (target: at most 1.5x). 20 small models "
            f"(MLPs and CNNs), whole `flopguard measure --json` process; Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {platform.machine()}; shared machine, so single runs vary.",
        ]
    )
    print(table)
    if args.write:
        write_section(HERE / "README.md", table)
    return 0


def write_section(readme: Path, table: str) -> None:
    text = readme.read_text() if readme.exists() else ""
    section = f"<!-- isolation:start -->\n## Worker-process isolation (benchmarks/isolation.py)\n\n{table}\n<!-- isolation:end -->"
    pattern = re.compile(r"<!-- isolation:start -->.*?<!-- isolation:end -->", re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
