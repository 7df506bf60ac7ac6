"""Building a model with its weights on meta and everything else real (measure/build.py).

Every model here is also counted with real weights on the CPU: the figures
must be identical, and the hybrid count must not have needed the fallback.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import torch
from torch import nn

from pytest_flopguard.measure.torch_engine.execute import count_model
from pytest_flopguard.measure.types import Measurement
from tests.measure.torch_engine.test_hybrid import real_count

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


def image(device: torch.device, model: nn.Module) -> Inputs:
    return (torch.randn(2, 3, 16, 16, device=device),), {}


def counted_on_meta_weights(build: Any, make_inputs: Any = image) -> Measurement:
    """The hybrid count, checked to be hybrid and equal to a real run in every figure."""
    m = count_model(build, make_inputs)
    assert (m.execution, m.notes) == ("hybrid", ())
    real = real_count(build, make_inputs)
    assert dataclasses.replace(m, execution="") == dataclasses.replace(real, execution="")
    return m


class ComputesInConstructor(nn.Module):
    """timm's drop-path rates (`.item()`), RegNet's widths (`.tolist()`), a relative-position index."""

    def __init__(self) -> None:
        super().__init__()
        rates = [x.item() for x in torch.linspace(0, 0.1, 3)]  # timm's pattern
        widths = torch.round(torch.tensor([8.0, 11.6, 15.2]) / 4).int().mul(4).tolist()  # RegNet's pattern
        assert rates[-1] == pytest.approx(0.1) and widths == [8, 12, 16]
        chans = [3, *widths]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(chans))
        coords = torch.stack(torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + 3
        self.register_buffer("index", rel[..., 0] * 7 + rel[..., 1])  # read by forward
        self.table = nn.Parameter(torch.zeros(49, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        bias = self.table[self.index.view(-1)].view(16, 16, 16)  # meta table, real index
        tokens = x.flatten(2)  # [2, 16, 256]
        return tokens[:, :, :16] @ bias[0]


def test_constructor_math_on_constructor_tensors_runs_for_real() -> None:
    m = counted_on_meta_weights(ComputesInConstructor)
    # convs: 2*16*16 positions * 9 * (3*8 + 8*12 + 12*16) = 512 * 9 * 312 = 1,437,696
    # matmul: [2, 16, 16] @ [16, 16] = 2 * 16 * 16 * 16 = 8,192
    assert m.macs == 1_445_888
    # conv weights 9*312 = 2,808 + biases 36; table 49*16 = 784
    assert m.params == 3_628


class FindsStrideByForward(nn.Module):
    """Ultralytics' pattern: a forward pass on zeros in __init__, then `.item()` of its result."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, 4, 1)
        size = 32
        out = self.forward(torch.zeros(1, 3, size, size))
        self.stride = torch.tensor([size / out.shape[-1]])
        with torch.no_grad():  # bias init from the stride, as YOLO's Detect.bias_init
            self.head.bias.fill_(float(self.stride.item()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(x))


def test_constructor_forward_pass_runs_on_meta_weights() -> None:
    m = counted_on_meta_weights(FindsStrideByForward)
    # stem 2*8*8 * 8*27 = 27,648; head 2*8*8 * 4*8 = 4,096
    assert m.macs == 31_744


class ReadsBufferValue(nn.Module):
    """Forward code that reads the value of a buffer filled in __init__."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("steps", torch.tensor([1, 2, 3]))
        self.lin = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(int(self.steps.sum().item())):  # 6 times
            x = self.lin(x)
        return x


def test_forward_reads_a_computed_buffer() -> None:
    m = counted_on_meta_weights(ReadsBufferValue, lambda device, model: ((torch.randn(4, 16),), {}))
    assert m.macs == 6 * 4 * 16 * 16  # 6,144


class TiedTwice(nn.Module):
    """One parameter registered in two modules before and after the build converts it."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Parameter(torch.randn(10, 8))
        self.a, self.b = nn.Linear(8, 10, bias=False), nn.Linear(8, 10, bias=False)
        self.a.weight = shared
        self.b.weight = shared  # the same real parameter: one meta parameter
        self.embed = nn.Embedding(10, 8)
        self.head = nn.Linear(8, 10, bias=False)
        self.head.weight = self.embed.weight  # Hugging Face's tie_weights: already meta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x) + self.head(x)


def test_tied_weights_count_once() -> None:
    m = counted_on_meta_weights(TiedTwice, lambda device, model: ((torch.randn(2, 8),), {}))
    assert m.params == 160  # shared 80 + embed/head 80


class Initialised(nn.Module):
    """Every torch.nn.init function, on meta weights: free, and no error."""

    def __init__(self) -> None:
        super().__init__()
        self.lins = nn.ModuleList(nn.Linear(8, 8) for _ in range(9))
        self.conv = nn.Conv2d(3, 3, 3)
        inits = [
            nn.init.orthogonal_,
            nn.init.trunc_normal_,
            nn.init.kaiming_normal_,
            nn.init.kaiming_uniform_,
            nn.init.xavier_uniform_,
            nn.init.xavier_normal_,
            nn.init.eye_,
            lambda w: nn.init.sparse_(w, 0.5),
            lambda w: nn.init.normal_(w, std=0.02),
        ]
        for init, lin in zip(inits, self.lins, strict=True):
            init(lin.weight)
            nn.init.zeros_(lin.bias)
        nn.init.dirac_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lin in self.lins:
            x = lin(x)
        return x


def test_initialisers_on_meta_weights() -> None:
    m = count_model(Initialised, lambda device, model: ((torch.randn(2, 8),), {}))
    assert (m.execution, m.notes, m.macs) == ("hybrid", (), 9 * 2 * 8 * 8)


@pytest.mark.parametrize(
    "finish",
    [
        lambda m: m.to("cpu"),
        lambda m: m.cpu(),
        lambda m: m.float(),
        lambda m: m.to(torch.device("cpu"), torch.float32).eval(),
        lambda m: nn.DataParallel(m).cpu(),
    ],
    ids=["to-cpu", "cpu", "float", "to-device-dtype-eval", "dataparallel-cpu"],
)
def test_a_factory_that_moves_its_model_still_builds(finish: Any) -> None:
    m = count_model(lambda: finish(nn.Linear(8, 4)), lambda device, model: ((torch.randn(2, 8),), {}))
    assert (m.execution, m.notes, m.macs, m.params, dict(m.uncounted_ops)) == ("hybrid", (), 64, 36, {})


def test_to_half_in_a_factory_keeps_the_weights_meta_in_half() -> None:
    m = count_model(lambda: nn.Linear(8, 4).to("cpu", torch.float16), lambda d, model: ((torch.randn(2, 8).half(),), {}))
    # bytes: input 2*8*2 + weight 32*2 + bias 4*2 + output 2*4*2 -> half precision throughout
    assert (m.execution, m.macs) == ("hybrid", 64)
    assert m.memory_access == 32 + 64 + 8 + 16


BIG_MODEL = """
import json, resource, sys
import torch
from torch import nn
from pytest_flopguard.measure.torch_engine.execute import count_model

class Big(nn.Module):  # 8 x 8192 x 8192 floats = 2 GiB of weights, and a 20k x 20k causal mask
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(8192, 8192, bias=False) for _ in range(8))
        self.register_buffer("mask", torch.tril(torch.ones(20000, 20000)))
        for layer in self.layers:
            nn.init.trunc_normal_(layer.weight, std=0.02)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = count_model(Big, lambda device, model: ((torch.randn(1, 8192),), {}))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"macs": m.macs, "params": m.params, "execution": m.execution, "grew_kib": after - before}))
"""


@pytest.mark.slow
def test_a_2_gib_model_builds_and_counts_without_allocating_its_weights() -> None:
    # A fresh process: its peak RSS is the figure (ru_maxrss is KiB on Linux).
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BIG_MODEL)], capture_output=True, text=True, check=True, timeout=300
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["macs"] == 8 * 8192 * 8192 and figures["params"] == 8 * 8192 * 8192
    assert figures["execution"] == "hybrid"
    assert figures["grew_kib"] < 200 * 1024, figures  # 2 GiB weights + 1.6 GB mask were never allocated


class MasksByInputAndByScore(nn.Module):
    """A mask from the inputs (real: indexing stays hybrid), then one from scores (weights)."""

    def __init__(self, by_score: bool) -> None:
        super().__init__()
        self.score = nn.Linear(4, 1)
        self.by_score = by_score

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[x[:, 0] > 0]  # input-derived mask
        if self.by_score:
            x = x[self.score(x)[:, 0] > 0]  # weight-derived: how many rows survive depends on the weights
        return self.score(x)


def test_an_input_mask_stays_hybrid_and_a_score_mask_is_data_dependent() -> None:
    def rows(device: torch.device, model: nn.Module) -> Inputs:
        return (torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0], [2.0, 1, 1, 1]]),), {}

    m = counted_on_meta_weights(lambda: MasksByInputAndByScore(by_score=False), rows)
    assert (m.macs, m.data_dependent) == (2 * 4, None)  # two rows pass x[:, 0] > 0
    first, *again = [count_model(lambda: MasksByInputAndByScore(by_score=True), rows) for _ in range(3)]
    assert again == [first, first], "a data-dependent count is the same on every run"
    m = first
    assert m.execution == "real"
    assert m.data_dependent is not None and m.data_dependent.startswith("aten.index at ")
    assert "test_build.py" in m.data_dependent and "self.score(x)[:, 0] > 0" in m.data_dependent


class DetectionLike(nn.Module):
    """Scores from the weights pick rows, then classes from the weights loop: a detection head's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(4, 1)
        self.refine = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept = x[self.score(x)[:, 0] > 0]  # weight-derived boolean mask
        classes = self.score(x)[:, 0].round().long()
        per_class = [self.refine(x[torch.where(classes == c)[0]]).sum() for c in torch.unique(classes)]
        return self.refine(kept), torch.stack(per_class).sum()


def test_upper_bound_counts_a_data_dependent_model_on_meta_weights_under_stated_assumptions() -> None:
    def rows(device: torch.device, model: nn.Module) -> Inputs:
        return (torch.randn(10, 4),), {}

    m = count_model(DetectionLike, rows, upper_bound=True)
    assert m.execution == "hybrid"  # no real run: nothing weight-sized was allocated
    # every row kept: score 10x4, refine 10x4x4, score again 10x4; unique finds one class,
    # whose loop refines all 10 rows once more (10x4x4)
    assert m.macs == 10 * 4 + 10 * 4 * 4 + 10 * 4 + 10 * 4 * 4
    assert m.data_dependent is not None and m.data_dependent.startswith("aten.index at ")
    (note,) = m.notes
    assert note.startswith("data_dependent: upper_bound: counted on meta weights assuming ")
    assert "every weight-derived mask is all true (aten.index at " in note
    assert "unique finds one value (aten._unique2 at " in note and "torch.unique(classes)" in note
    real = count_model(DetectionLike, rows)
    assert real.execution == "real" and real.macs <= m.macs  # an upper bound of the seeded real run


def test_upper_bound_has_no_bound_for_item_and_counts_a_real_run() -> None:
    class ScaledByItsScore(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * float(self.lin(x).max())

    m = count_model(ScaledByItsScore, lambda d, model: ((torch.randn(2, 4),), {}), upper_bound=True)
    assert m.execution == "real" and m.macs == 2 * 4 * 4
    assert m.data_dependent is not None and m.data_dependent.startswith("aten._local_scalar_dense at ")


SCALED_BY_A_WEIGHT = '''
import torch
from torch import nn

class ScaledByAWeight(nn.Module):
    """Reads a weight's value in __init__: cannot be built on meta weights."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.scale = float(self.lin.weight.abs().max())

    def forward(self, x):
        return self.lin(x) * self.scale

def build():
    return ScaledByAWeight()
'''

BUILD_ON_BUDGET = """version: 1
models:
  on_meta:
    model: nets:build
    inputs: [[2, 8]]
  on_cpu:
    model: nets:build
    inputs: [[2, 8]]
    build_on: cpu
"""


@pytest.mark.slow
def test_build_on_cpu_builds_what_meta_weights_cannot(tmp_path: Any) -> None:
    from tests.conftest import run_cli

    (tmp_path / "nets.py").write_text(SCALED_BY_A_WEIGHT)
    (tmp_path / "flopguard.yaml").write_text(BUILD_ON_BUDGET)
    run_cli("measure", "--json", "out.json", cwd=tmp_path)
    models = json.loads((tmp_path / "out.json").read_text())["models"]
    on_meta, on_cpu = models["on_meta"], models["on_cpu"]
    assert on_meta["error"]["code"] == "FG311"
    assert "cannot be built with its weights on the meta device" in on_meta["error"]["message"]
    assert on_meta["error"]["message"].endswith(
        "(aten._local_scalar_dense) at nets.py:10 (self.scale = float(self.lin.weight.abs().max()))"
    )
    assert "`build_on: cpu`" in on_meta["error"]["fix"]
    assert on_meta["error"]["where"] == "flopguard.yaml:4 models.on_meta"
    assert on_cpu["error"] is None and on_cpu["execution"] == "real"
    assert on_cpu["metrics"]["macs"] == 2 * 8 * 8
    assert on_cpu["notes"] == ["build_on: cpu in the budget; counted a real CPU run with random weights (seed 0)"]


def test_build_on_cpu_is_refused_over_the_real_weight_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_flopguard.errors import FlopguardError

    monkeypatch.setenv("FLOPGUARD_MAX_REAL_BYTES", "100")
    with pytest.raises(FlopguardError, match=r"\(build_on: cpu in the budget\), and they take 288B"):
        count_model(lambda: nn.Linear(8, 8), lambda d, model: ((torch.randn(2, 8),), {}), build_on="cpu")


MASKED_BY_SCORE = """
import torch
from torch import nn

class MaskedByScore(nn.Module):
    def __init__(self):
        super().__init__()
        self.score = nn.Linear(8, 1)

    def forward(self, x):
        return self.score(x[self.score(x)[:, 0] > 0])

def build():
    return MaskedByScore()
"""

DATA_DEPENDENT_BUDGET = """version: 1
defaults:
  data_dependent: upper_bound
models:
  bounded:
    model: nets:build
    inputs: [[16, 8]]
  seeded:
    model: nets:build
    inputs: [[16, 8]]
    data_dependent: real_run
"""


@pytest.mark.slow
def test_the_budget_chooses_how_a_data_dependent_model_is_counted(tmp_path: Any) -> None:
    from tests.conftest import run_cli

    (tmp_path / "nets.py").write_text(MASKED_BY_SCORE)
    (tmp_path / "flopguard.yaml").write_text(DATA_DEPENDENT_BUDGET)
    run_cli("measure", "--json", "out.json", cwd=tmp_path)
    models = json.loads((tmp_path / "out.json").read_text())["models"]
    bounded, seeded = models["bounded"], models["seeded"]
    assert bounded["execution"] == "hybrid" and bounded["metrics"]["macs"] == 16 * 8 + 16 * 8  # all 16 rows kept
    assert bounded["data_dependent"].startswith("aten.index at nets.py:11 ")
    assert bounded["notes"][0].startswith("data_dependent: upper_bound: counted on meta weights assuming every")
    assert seeded["execution"] == "real" and seeded["metrics"]["macs"] < bounded["metrics"]["macs"]
    assert seeded["data_dependent"] == bounded["data_dependent"]


def test_upper_bound_bincount_keeps_the_weights_dtype() -> None:
    """torch.bincount gives float32 for float32 weights, float64 for integer ones, int64 without."""
    from pytest_flopguard.measure.torch_engine.upper_bound import ASSUMPTIONS

    _, bincount = ASSUMPTIONS["aten::bincount"]
    x = torch.tensor([0, 1])
    for weights in (None, torch.tensor([1.0, 2.0]), torch.tensor([1, 2]), torch.tensor([1.0, 2.0], dtype=torch.half)):
        expected = torch.bincount(x, weights=weights, minlength=4).dtype
        assert bincount(x, weights, 4).dtype == expected, weights
