"""The real-world corpus (tests/realworld/corpus.py) as a table: each model counted on
meta weights beside its independent reference, with the count's time.

    YOLO_OFFLINE=1 python benchmarks/corpus.py [--family timm] [--write]

`--write` replaces the table between the corpus markers in benchmarks/README.md.
Every count runs in this one process, as a CI job of the whole corpus would; the
footer gives the wall time and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import platform
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pytest_flopguard.measure.torch_engine.execute import count_model  # noqa: E402
from tests.realworld.corpus import CASES, Case  # noqa: E402

START, END = "<!-- corpus:start -->", "<!-- corpus:end -->"


def row(case: Case) -> tuple[str, bool | None]:
    started = time.perf_counter()
    try:
        m = count_model(case.build, lambda device, model: case.inputs())
    except Exception as exc:  # a row says what broke; the run goes on
        return f"| {case.family} | {case.name} | error: {type(exc).__name__} | | | | |", False
    seconds = time.perf_counter() - started
    ref = case.reference()
    ratio = m.macs / ref.macs if ref.macs else float("nan")
    ok = abs(ratio - 1) <= ref.tolerance and m.params == ref.params and m.execution == "hybrid"
    params = "exact" if m.params == ref.params else f"{m.params:,} vs {ref.params:,}"
    return (
        f"| {case.family} | {case.name} | {m.macs / 1e9:.4f} G | {params} | {ref.source} | {ratio:.4f} | {seconds:.2f} s |",
        ok,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", help="only cases whose family starts with this")
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    opts = parser.parse_args()
    cases = [c for c in CASES if c.available() and (not opts.family or c.family.startswith(opts.family))]
    started = time.perf_counter()
    lines = ["| family | model | MACs | params | reference | MACs / reference | count time |", "|---|---|---:|---|---|---:|---:|"]
    tally: dict[str, list[int]] = {}
    for case in cases:
        line, ok = row(case)
        lines.append(line)
        print(line, flush=True)
        counts = tally.setdefault(case.family, [0, 0])
        counts[0] += bool(ok)
        counts[1] += 1
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    summary = ", ".join(f"{family} {ok}/{n}" for family, (ok, n) in tally.items())
    header = (
        f"torch {torch.__version__}, Python {platform.python_version()}, {torch.get_num_threads()} threads. "
        f"Within the reference's tolerance (0.5%; 1% for YOLO; torchvision's 3-decimal rounding), params exact, "
        f"on meta weights: {summary}. Whole run (counts and references, one process): {wall:.0f} s, "
        f"peak RSS {peak:.0f} MiB."
    )
    print(header)
    if opts.write:
        readme = ROOT / "benchmarks" / "README.md"
        text = readme.read_text()
        block = "\n".join([START, header, "", *lines, END])
        if START in text:
            text = re.sub(f"{START}.*?{END}", lambda _: block, text, flags=re.S)
        else:
            text += f"\n## Real-world corpus\n\n`python benchmarks/corpus.py --write` (the cases of tests/realworld/corpus.py).\n\n{block}\n"
        readme.write_text(text)


if __name__ == "__main__":
    main()
