"""Peak live bytes of a forward pass, from the op trace alone.

A storage is live from the op that creates it to the last op that reads or
writes it (the model's outputs: to the end); weights, buffers and inputs are
live throughout. This is liveness as an ideal allocator sees it, computed
from the trace, so the figure is the same on meta and CPU and does not
depend on when Python happens to drop a reference (an import in the middle
of a forward pass can keep frames, and their activations, alive for a while).

Storages are tracked by weak reference: a freed storage's address may be
reused, and a new storage at an old address is a new storage.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.multiprocessing.reductions import StorageWeakRef


class PeakTracker:
    def __init__(self) -> None:
        self._pinned = 0
        self._pinned_keys: set[StorageWeakRef] = set()
        self._ids: dict[StorageWeakRef, tuple[StorageWeakRef, int]] = {}
        self._size: list[int] = []
        self._first: list[int] = []
        self._last: list[int] = []
        self._step = 0

    def pin(self, tensors: Iterable[torch.Tensor]) -> None:
        """Weights, buffers and inputs: live for the whole pass."""
        for t in tensors:
            key = _storage_key(t)
            if key is not None and key not in self._pinned_keys:
                self._pinned_keys.add(key)
                self._pinned += t.untyped_storage().nbytes()

    def after_op(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        self._step += 1
        for t in (*inputs, *outputs):
            self._touch(t)

    def finish(self, outputs: list[torch.Tensor]) -> None:
        """The model's outputs are live at the end."""
        self._step += 1
        for t in outputs:
            self._touch(t)

    @property
    def peak(self) -> int:
        delta = [0] * (self._step + 2)
        for size, first, last in zip(self._size, self._first, self._last, strict=True):
            delta[first] += size
            delta[last + 1] -= size
        live = peak = 0
        for change in delta:
            live += change
            peak = max(peak, live)
        return self._pinned + peak

    def _touch(self, t: torch.Tensor) -> None:
        key = _storage_key(t)
        if key is None or key in self._pinned_keys:
            return
        known = self._ids.get(key)
        if known is not None and not known[0].expired():  # type: ignore[no-untyped-call]
            self._last[known[1]] = self._step
            return
        self._ids[key] = (key, len(self._size))
        self._size.append(t.untyped_storage().nbytes())
        self._first.append(self._step)
        self._last.append(self._step)


def _storage_key(t: torch.Tensor) -> StorageWeakRef | None:
    try:
        return StorageWeakRef(t.untyped_storage())  # type: ignore[no-untyped-call]
    except (RuntimeError, NotImplementedError, TypeError):  # sparse, nested, some subclasses
        return None
