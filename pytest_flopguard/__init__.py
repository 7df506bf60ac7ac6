"""pytest-flopguard: a CI gate for the FLOPs, parameters, memory traffic and
latency of ML models.

Public API (importing this package does not import torch, onnx or jinja2)::

    from pytest_flopguard import measure
    m = measure(model, [(1, 3, 224, 224)])
    m.assert_within(flops="1.2G", params="3.5M")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "measure"]

if TYPE_CHECKING:
    from pytest_flopguard.fixture import measure


def __getattr__(name: str) -> Any:
    # Lazy: the pytest11 entry point imports this package in every pytest run.
    if name == "measure":
        from pytest_flopguard.fixture import measure

        return measure
    raise AttributeError(name)
