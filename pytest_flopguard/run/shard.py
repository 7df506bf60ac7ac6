"""Beyond one machine: shard the models across CI jobs, then merge their results.

`--shard i/n` picks every n-th model after ordering the names by a hash of
the name: the assignment depends only on the set of names (the same on every
job of the matrix, whatever the budget's order), and the shards differ in
size by at most one. With the last known costs (`seconds` per model in a
results file) `balanced_shard_names` evens out the shards' time instead.
`merge_results` joins the shards' results files into one, refusing a model
measured twice, a budget model in no file (a missing shard), and files of
different commits.

    >>> shard_names(["a", "b", "c"], Shard(1, 2)), shard_names(["a", "b", "c"], Shard(2, 2))
    (['a', 'c'], ['b'])
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.results import Results


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as users write it: 1/3, 2/3, 3/3
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`"2/3"` -> Shard(2, 3); anything else is FG601."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match:
        index, count = int(match.group(1)), int(match.group(2))
        if 1 <= index <= count:
            return Shard(index, count)
    raise FlopguardError(
        "FG601",
        f"--shard {text!r} is not I/N with 1 <= I <= N",
        fix="write it as in a matrix: --shard 1/3, --shard 2/3, --shard 3/3",
    )


def _stable_hash(name: str) -> str:
    # sha256, not hash(): Python salts str hashes per process, and every
    # job of the matrix must agree on the order.
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def shard_names(names: Sequence[str], shard: Shard) -> list[str]:
    """The models of one shard, in the budget's order."""
    ranked = sorted(set(names), key=lambda n: (_stable_hash(n), n))
    mine = {n for k, n in enumerate(ranked) if k % shard.count == shard.index - 1}
    return [n for n in names if n in mine]


def balanced_shard_names(names: Sequence[str], shard: Shard, costs: Mapping[str, float]) -> list[str]:
    """The models of one shard, balanced by their last known cost (seconds).

    Greedy, largest first: each model (by cost, then by the stable hash) goes
    to the shard with the least total so far. Deterministic for a given set of
    names and costs, so every job of a matrix must read the same costs (the
    committed baseline file); a model without a cost counts as the median.
    Without any cost it is `shard_names`.
    """
    known = sorted(c for n, c in costs.items() if n in set(names) and c > 0)
    if not known:
        return shard_names(names, shard)
    typical = known[len(known) // 2]
    ranked = sorted(set(names), key=lambda n: (-costs.get(n, typical), _stable_hash(n), n))
    totals = [0.0] * shard.count
    mine: set[str] = set()
    for name in ranked:
        slot = min(range(shard.count), key=lambda k: (totals[k], k))
        totals[slot] += costs.get(name, typical)
        if slot == shard.index - 1:
            mine.add(name)
    return [n for n in names if n in mine]


def costs_of(results: Results | None) -> dict[str, float]:
    """Seconds each model took to measure, from a results file (reused models have none)."""
    if results is None:
        return {}
    return {name: r.seconds for name, r in results.models.items() if r.seconds}


def last_costs(budget: Path, baseline: str | None) -> dict[str, float]:
    """The costs in the baseline file (`--baseline`, else the default one beside the budget), if any."""
    from pytest_flopguard.options import default_baseline
    from pytest_flopguard.results import previous_results

    return costs_of(previous_results(Path(baseline) if baseline else default_baseline(budget)))


def pick_shard(names: Sequence[str], shard: Shard, budget: Path, baseline: str | None) -> list[str]:
    """One shard's models: balanced by the baseline's costs when it has them, else by name."""
    return balanced_shard_names(names, shard, last_costs(budget, baseline))


def merge_results(parts: Sequence[tuple[str, Results]], partial: bool = False) -> Results:
    """One results file from the shards' files (`(path, results)` pairs, for messages)."""
    if not parts:
        raise FlopguardError("FG602", "nothing to merge", fix="pass the shards' results files")
    _refuse_duplicates(parts)
    _refuse_mixed(parts)
    first = parts[0][1]
    models = {name: result for _, part in parts for name, result in part.models.items()}
    budget_models = tuple(dict.fromkeys(n for _, part in parts for n in part.budget_models))
    missing = [n for n in budget_models if n not in models]
    if missing and not partial:
        raise FlopguardError(
            "FG605",
            f"model(s) of the budget in none of the files: {', '.join(map(repr, missing))}",
            fix="pass every shard's results file (a matrix job failed or was not downloaded?), "
            "or --partial to report them as not run",
        )
    return replace(first, models=models, budget_models=budget_models)


def _refuse_duplicates(parts: Sequence[tuple[str, Results]]) -> None:
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for path, part in parts:
        for name in part.models:
            if name in seen:
                clashes.append(f"{name!r} ({seen[name]} and {path})")
            seen.setdefault(name, path)
    if clashes:
        raise FlopguardError(
            "FG603",
            f"model(s) measured in more than one file: {', '.join(clashes)}",
            fix="give each matrix job a different --shard I/N of the same N, or merge each shard once",
        )


def _refuse_mixed(parts: Sequence[tuple[str, Results]]) -> None:
    """Shards of one run measured one commit with one FLOP convention."""
    facts: tuple[tuple[str, Callable[[Results], object]], ...] = (
        ("commit", lambda r: r.git.get("commit")),
        ("FLOP convention", lambda r: r.convention),
    )
    for what, fact in facts:
        found = {str(fact(part)): path for path, part in parts if fact(part)}
        if len(found) > 1:
            listed = ", ".join(f"{path}: {key[:12]}" for key, path in found.items())
            raise FlopguardError(
                "FG604",
                f"the results files are of different {what}s ({listed})",
                fix="merge the shards of one workflow run only",
            )
