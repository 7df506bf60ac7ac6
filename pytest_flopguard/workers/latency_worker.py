"""A long-lived process that holds one model and times it in turns (see `latency_pair.py`).

    python -c BOOTSTRAP --budget flopguard.yaml --model classifier --device cpu

It builds the model once (real random weights, seeded), warms it up, says
`{"ready": true, "environment": {...}}`, then answers each
`{"run": SECONDS, "calls": K}` line with `{"samples": [...]}` (seconds per
call, each sample the mean of K calls: the coordinator gives both sides the same K) until
`{"stop": true}` or end of input. The protocol has the process's original
stdout to itself: whatever the model prints goes to stderr. Any failure is
one `{"error": {...}}` line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

# A sample lasts at least this long, so a 0.1 s turn holds about ten of them:
# a decision then pairs hundreds, not millions, of samples.
MIN_SAMPLE_S = 0.01
WARM_UP_S = 0.5


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the model's prints must not corrupt the protocol
    sys.stdout = sys.stderr
    try:
        bench, environment = _load(args)
    except Exception as exc:  # the user's code, or its budget entry: report, don't hang the coordinator
        _send(protocol, {"error": _describe(exc, Path(args.budget).resolve().parent)})
        return 1
    _send(protocol, {"ready": True, "environment": environment, "calls_per_sample": bench.calls_per_sample})
    for line in sys.stdin:
        request = json.loads(line)
        if "run" not in request:
            break
        bench.calls_per_sample = int(request.get("calls", bench.calls_per_sample))
        _send(protocol, {"samples": bench.run_for(float(request["run"]))})
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flopguard-latency-worker")
    parser.add_argument("--budget", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--require-under", help="base checkout: the model's code must come from here")
    parser.add_argument("--head-checkout", help="head checkout: the model's code must not come from here")
    return parser


def _load(args: argparse.Namespace) -> tuple[Any, dict[str, str]]:
    import torch

    from pytest_flopguard.budget.loader import load_budget
    from pytest_flopguard.errors import FlopguardError
    from pytest_flopguard.measure.environment import environment
    from pytest_flopguard.measure.latency.bench import load_bench, unavailable

    budget = load_budget(args.budget)
    spec = budget.model(args.model)
    if spec.errors:
        raise spec.errors[0]
    if (reason := unavailable(args.device)) is not None:
        raise FlopguardError("FG340", reason, fix="time it on a machine that has the device")
    torch.set_num_threads(spec.timing.threads)  # for the life of this process
    before = set(sys.modules)
    bench = load_bench(spec, budget.root, args.device)
    _check_imports(args, spec, [m for m in sys.modules if m not in before])
    bench.warm_up(WARM_UP_S, MIN_SAMPLE_S)
    return bench, environment(args.device, spec.timing.threads)


def _check_imports(args: argparse.Namespace, spec: Any, loaded: list[str]) -> None:
    """In the base worker: a model imported from the head checkout would time the head twice."""
    if not args.require_under:
        return
    from pytest_flopguard.errors import FlopguardError
    from pytest_flopguard.workers.importguard import ImportGuard

    head = Path(args.head_checkout).resolve() if args.head_checkout else None
    error = ImportGuard(Path(args.require_under).resolve(), head).check(spec, loaded)
    if error is not None:
        raise FlopguardError(error.code or "FG410", error.message, fix=error.fix)


def _describe(exc: BaseException, root: Path) -> dict[str, Any]:
    from pytest_flopguard.workers.faults import error_info

    info = error_info(exc, root)
    return {"type": info.type, "message": info.message, "code": info.code, "fix": info.fix, "where": info.where}


def _send(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
