"""Beyond one machine: shard the models across CI jobs, then merge their results.

`--shard i/n` picks every n-th model after ordering the names by a hash of
the name: the assignment depends only on the set of names (the same on every
job of the matrix, whatever the budget's order), and the shards differ in
size by at most one. `merge_results` joins the shards' results files into one,
refusing a model measured twice and files of different commits.

    >>> shard_names(["a", "b", "c"], Shard(1, 2)), shard_names(["a", "b", "c"], Shard(2, 2))
    (['a', 'c'], ['b'])
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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


def merge_results(parts: Sequence[tuple[str, Results]]) -> Results:
    """One results file from the shards' files (`(path, results)` pairs, for messages)."""
    if not parts:
        raise FlopguardError("FG602", "nothing to merge", fix="pass the shards' results files")
    _refuse_duplicates(parts)
    _refuse_mixed(parts)
    first = parts[0][1]
    models = {name: result for _, part in parts for name, result in part.models.items()}
    budget_models = tuple(dict.fromkeys(n for _, part in parts for n in part.budget_models))
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
