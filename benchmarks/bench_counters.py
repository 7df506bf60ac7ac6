"""flopguard against the other FLOP counters, side by side, in one run.

Each tool counts each model in a fresh process, so wall time and peak RSS are
of the whole job (Python start, imports, model build, counting), the way a CI
step pays for them. Counts are compared with analytic MACs derived by hand
(tests/measure/torch_engine/test_paper_models.py, tests/helpers/llama_like.py).

    pip install fvcore ptflops thop        # the peers; not project dependencies
    python benchmarks/bench_counters.py    # prints a Markdown table
    python benchmarks/bench_counters.py --write   # ...and updates benchmarks/README.md

Peers run on real CPU tensors with random weights (what they need); the
Llama-7B-shaped model would need 27 GB of weights, so only runs that need
no weights are tried on it. A tool that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    name: str
    factory: str  # "module:callable" importable from the repo root
    shape: tuple[int, ...]
    vocab: int | None  # integer token ids in [0, vocab), else float32 images
    analytic_macs: int
    needs_weights_gb: float  # float32 weights of a real run

    def make_input(self) -> Any:
        import torch

        return torch.randint(0, self.vocab, self.shape) if self.vocab else torch.randn(self.shape)

    def budget_entry(self) -> list[str]:
        dtype = "int64" if self.vocab else "float32"
        shape = list(self.shape)
        return [f"  {self.name}:", f"    model: {self.factory}", f"    inputs: [{{shape: {shape}, dtype: {dtype}}}]"]


CASES = {
    c.name: c
    for c in (
        # conv + fc MACs, derived layer by layer in tests/measure/torch_engine/test_paper_models.py
        Case("resnet50", "tests.helpers.paper_models:ResNet50", (1, 3, 224, 224), None, 4_089_184_256, 0.1),
        # patch conv + 12 x (qkv, attention, proj, MLP) + head, full attention
        Case("vit_b16", "tests.helpers.paper_models:ViTB16", (1, 3, 224, 224), None, 17_563_828_224, 0.35),
        # 12 x (qkv, attention, proj, MLP) + tied lm head, 1024 tokens
        Case("gpt2_small", "tests.helpers.paper_models:GPT2", (1, 1024), 50257, 145_824_153_600, 0.5),
        # tests/helpers/llama_like.py: Config().analytic_macs(512)
        Case("llama_7b", "tests.helpers.llama_like:llama_7b", (1, 512), 32000, 3_451_543_093_248, 27.0),
    )
}
TOOLS = ("flopguard", "FlopCounterMode", "FlopCounterMode (meta)", "fvcore", "ptflops", "thop")
NO_WEIGHTS = {"flopguard", "FlopCounterMode (meta)"}  # tools that build the model on meta


# --- the child: one tool, some models, one process ------------------------------------


def child(tool: str, names: list[str]) -> None:
    """Count each named model with `tool`; print one JSON line: MACs and seconds per model.

    `flopguard-cli` runs the real `flopguard measure` job; the other rows time
    building the model and counting it, after the imports.
    """
    if tool == "flopguard-cli":
        print(json.dumps({"macs": _flopguard_cli(names), "seconds": {}}))
        return
    import torch

    torch.set_num_threads(1)
    macs: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        try:
            macs[name] = _count(tool, CASES[name])
        except Exception as exc:  # a peer failing is a result, not a crash
            macs[name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
        seconds[name] = time.perf_counter() - start
    print(json.dumps({"macs": macs, "seconds": seconds}))


def _count(tool: str, case: Case) -> int:
    import torch

    if tool == "flopguard":
        from pytest_flopguard.measure.torch_engine.execute import count_model

        return count_model(_load(case.factory), lambda device, model: ((case.make_input(),), {})).macs
    with torch.device("meta" if tool == "FlopCounterMode (meta)" else "cpu"):
        model = _load(case.factory)().eval()
        args = (case.make_input(),)
    return _PEERS[tool](model, args)


def _flopguard_cli(names: list[str]) -> dict[str, Any]:
    """The real job: `flopguard measure` on a budget naming the models."""
    lines = ["version: 1", "models:"]
    for name in names:
        lines += CASES[name].budget_entry()
    with tempfile.TemporaryDirectory() as tmp:
        budget, results = Path(tmp, "flopguard.yaml"), Path(tmp, "out.json")
        budget.write_text("\n".join(lines) + "\n")
        from pytest_flopguard.cli import main

        sys.path.insert(0, str(REPO))
        with open(os.devnull, "w") as quiet:
            sys.stdout, saved = quiet, sys.stdout
            try:
                main(["measure", "--budget", str(budget), "--json", str(results)])
            finally:
                sys.stdout = saved
        data = json.loads(results.read_text())["models"]
    return {n: data[n]["metrics"].get("macs", f"failed: {data[n]['error']}") for n in names}


def _load(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _fcm(model: Any, args: tuple[Any, ...]) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*args)
    return int(counter.get_total_flops()) // 2


def _fvcore(model: Any, args: tuple[Any, ...]) -> int:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, args)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())  # fvcore's "flops" are MACs


def _ptflops(model: Any, args: tuple[Any, ...]) -> int:
    from ptflops import get_model_complexity_info

    macs, _ = get_model_complexity_info(
        model, tuple(args[0].shape[1:]), input_constructor=lambda _: args[0],
        as_strings=False, print_per_layer_stat=False, verbose=False,
    )  # fmt: skip
    return int(macs)


def _thop(model: Any, args: tuple[Any, ...]) -> int:
    from thop import profile

    macs, _ = profile(model, inputs=args, verbose=False)
    return int(macs)


_PEERS = {
    "FlopCounterMode": _fcm,
    "FlopCounterMode (meta)": _fcm,
    "fvcore": _fvcore,
    "ptflops": _ptflops,
    "thop": _thop,
}


# --- the parent: run every tool on every case, each in a fresh process ---------------


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_mb: float
    macs: dict[str, Any]
    seconds: dict[str, float]


def run_child(tool: str, names: list[str]) -> Run:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "true", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", tool, ",".join(names)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )  # fmt: skip
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    lines = stdout.strip().splitlines()
    if not lines or status != 0:
        return Run(wall, usage.ru_maxrss / 1024, dict.fromkeys(names, f"exit status {status}"), {})
    data = json.loads(lines[-1])
    return Run(wall, usage.ru_maxrss / 1024, data["macs"], data["seconds"])


def installed(tool: str) -> bool:
    module = {"fvcore": "fvcore", "ptflops": "ptflops", "thop": "thop"}.get(tool)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def cell(value: Any, analytic: int) -> str:
    if not isinstance(value, int):
        return str(value)
    error = (value - analytic) / analytic * 100
    return f"{value / 1e9:,.3f} G ({error:+.1f}%)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "MODELS"))
    parser.add_argument("--write", action="store_true", help="update the table in benchmarks/README.md")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1].split(","))
        return
    lines = table()
    print("\n".join(lines))
    if args.write:
        write_readme(lines)


def table() -> list[str]:
    tools = [t for t in TOOLS if installed(t)]
    baseline = _import_torch_time()
    out = [
        f"torch {_torch_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, 1 thread; "
        f"`python -c 'import torch'` alone takes {baseline:.2f} s.",
        "",
        "| model | tool | MACs (error vs analytic) | build + count | whole process | peak RSS |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case in CASES.values():
        out.append(f"| {case.name} | analytic | {case.analytic_macs / 1e9:,.3f} G | | | |")
        for tool in tools:
            if tool not in NO_WEIGHTS and case.needs_weights_gb > 8:
                out.append(f"| | {tool} | not run: needs {case.needs_weights_gb:.0f} GB of weights | | | |")
                continue
            run = run_child(tool, [case.name])
            count_s = run.seconds.get(case.name)
            timing = f"{count_s:.2f} s" if count_s is not None else ""
            out.append(
                f"| | {tool} | {cell(run.macs[case.name], case.analytic_macs)} | {timing} | {run.wall_s:.2f} s | {run.peak_mb:,.0f} MB |"
            )
    out += ["", *job_comparison()]
    return out


def job_comparison() -> list[str]:
    """Issue 3's target: one job counting a ResNet-50- and a ViT-B-size model."""
    names = ["resnet50", "vit_b16"]
    ours = min((run_child("flopguard-cli", names) for _ in range(3)), key=lambda r: r.wall_s)
    theirs = min((run_child("FlopCounterMode", names) for _ in range(3)), key=lambda r: r.wall_s)
    floor = min(_import_torch_time() for _ in range(3))
    return [
        "One job counting ResNet-50 and ViT-B/16 (best of 3, whole process):",
        "",
        "| job | wall time | peak RSS |",
        "|---|---:|---:|",
        f"| `flopguard measure` (hybrid: meta weights) | {ours.wall_s:.2f} s | {ours.peak_mb:,.0f} MB |",
        f"| FlopCounterMode on real CPU tensors | {theirs.wall_s:.2f} s | {theirs.peak_mb:,.0f} MB |",
        f"| ratio | {ours.wall_s / theirs.wall_s:.2f}x | {ours.peak_mb / theirs.peak_mb:.2f}x |",
        f"| `python -c 'import torch'`, the floor of any job that counts a torch model "
        f"| {floor:.2f} s ({floor / theirs.wall_s:.2f}x) | |",
        f"| `flopguard measure` beyond that floor vs FlopCounterMode beyond it "
        f"| {(ours.wall_s - floor) / (theirs.wall_s - floor):.2f}x | |",
    ]


def _import_torch_time() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def _torch_version() -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    )
    return out.stdout.strip()


def write_readme(lines: list[str]) -> None:
    readme = REPO / "benchmarks" / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench_counters:start -->", "<!-- bench_counters:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n" + "\n".join(lines) + f"\n{end}{tail}")


if __name__ == "__main__":
    main()
