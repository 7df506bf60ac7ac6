"""The scaling check: FLOPs that grow faster than the pixel count.

A convolution's FLOPs are proportional to the pixels it sees, so a network of
convolutions costs four times as much at 1280x1280 as at 640x640 (a little
less: the classifier head after global pooling does not grow). A layer that
relates every position to every other (global self-attention over patches:
N^2 for N patches) grows with the square of the pixel count. When the FLOPs
ratio between a family's smallest resolution and a larger one beats the pixel
ratio by more than `THRESHOLD`, the report says so: a resolution-dependent
layer, worth knowing before shipping the large variant.

Pure, like `diff.py`: it reads the head results' variant facts and FLOPs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pytest_flopguard.results import ModelResult, Results

THRESHOLD = 1.01  # FLOPs ratio / pixel ratio above this is noted


@dataclass(frozen=True)
class ScalingNote:
    """`family`'s FLOPs grew `flops_ratio` times from `small` to `large`, pixels `pixel_ratio` times."""

    family: str
    group: str  # the rest of the variant id (`b8-bf16`), shared by both
    small: tuple[int, int]
    large: tuple[int, int]
    flops_ratio: float
    pixel_ratio: float


def scaling_notes(head: Results, threshold: float = THRESHOLD) -> tuple[ScalingNote, ...]:
    """One note per larger resolution whose FLOPs outgrow its pixels, against the family's smallest.

    Only variants that differ in resolution alone are compared (same family,
    group and batch); a group where two variants share a resolution is left alone.
    """
    groups: defaultdict[tuple[str, str, int], list[tuple[tuple[int, int], float]]] = defaultdict(list)
    for result in head.models.values():
        if (point := _point(result)) is not None and result.variant is not None:
            variant = result.variant
            groups[(variant.family, variant.group, variant.batch or 0)].append(point)
    notes = []
    for (family, group, _), points in sorted(groups.items()):
        if len({size for size, _ in points}) != len(points):
            continue  # two variants at one resolution differ in something else
        points.sort(key=lambda p: (_pixels(p[0]), p[0]))
        (small, base), larger = points[0], points[1:]
        for size, flops in larger:
            pixel_ratio, flops_ratio = _pixels(size) / _pixels(small), flops / base
            if pixel_ratio > 1 and flops_ratio / pixel_ratio > threshold:
                notes.append(ScalingNote(family, group, small, size, flops_ratio, pixel_ratio))
    return tuple(notes)


def _point(result: ModelResult) -> tuple[tuple[int, int], float] | None:
    flops = result.metrics.get("flops")
    if result.error is not None or result.variant is None or result.variant.resolution is None or not flops:
        return None
    return result.variant.resolution, float(flops)


def _pixels(size: tuple[int, int]) -> int:
    return size[0] * size[1]
