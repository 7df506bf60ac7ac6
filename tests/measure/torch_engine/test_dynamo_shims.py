"""Counting on meta does not import torch's compiler, and counts the same as when it does.

Each check runs in a fresh interpreter: whether `torch._dynamo` is imported is
a property of the whole process, and this test process may have imported it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from pytest_flopguard.measure.torch_engine import dynamo_shims
    from pytest_flopguard.measure.torch_engine.execute import count_model

    class Net(torch.nn.Module):
        # batch norm, normal_ init and layer norm: torch's shimmed meta paths
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.pos = torch.nn.Parameter(torch.empty(1, 8, 16, 16))
            torch.nn.init.normal_(self.pos, std=0.02)
            self.norm = torch.nn.LayerNorm(16)
            self.fc = torch.nn.Linear(16, 4)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x))) + self.pos
            return self.fc(self.norm(x))

    def figures():
        m = count_model(Net, lambda device, model: ((torch.randn(2, 3, 16, 16),), {}))
        return [m.macs, m.flops, m.memory_access, m.peak_memory, m.execution]

    first = figures()
    imported = "torch._dynamo" in sys.modules
    left = sum(dynamo_shims._ATTR in vars(fn) for fn in dynamo_shims._shimmed_functions())
    import torch._dynamo  # now with the shims as torch made them
    print(json.dumps({"first": first, "imported": imported, "left": left,
                      "shims": len(dynamo_shims._shimmed_functions()), "with_dynamo": figures()}))
    """
)


def _run() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300, check=True
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_meta_count_skips_the_compiler_and_counts_the_same() -> None:
    result = _run()
    assert result["imported"] is False, "counting on meta imported torch._dynamo"
    assert result["left"] == 0, "shims left bypassed after the count"
    assert isinstance(result["shims"], int) and result["shims"] > 100  # torch 2.13 has ~290
    assert result["first"] == result["with_dynamo"]
    assert result["first"][-1] == "hybrid"  # type: ignore[index]
