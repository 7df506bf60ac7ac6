"""Variants: resolution, batch and dtype per model, the scaling check and the trade-off plot.

Counts are fixed integers with their arithmetic beside them (STYLE: tests by layer).
"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.budget.schema import InputsSpec, TensorSpec, Variant
from pytest_flopguard.compare.diff import compare
from pytest_flopguard.compare.scaling import ScalingNote, scaling_notes
from pytest_flopguard.errors import BudgetError
from pytest_flopguard.render.plot import render_plot
from pytest_flopguard.results import ModelResult, Results
from pytest_flopguard.results_json import from_json, to_json
from tests.conftest import run_cli

DATA = Path(__file__).parent.parent / "data" / "budgets"
SVG = "{http://www.w3.org/2000/svg}"

# Imported by the budgets below from their own folder (the budget's folder is first on sys.path).
NETS = '''
import torch
import torch.nn.functional as F
from torch import nn


def build(width=16):
    return nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, 10),
    )


class WeightGated(nn.Module):
    """Reads a value of its weights: counted by a real CPU run, not on meta."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.conv(x).relu() if self.scale.item() > 0 else x


class PatchAttention(nn.Module):
    """Global self-attention over 16x16 patches: N^2 work for N patches."""

    def __init__(self, dim=8, patch=16):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, stride=patch, bias=False)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return F.scaled_dot_product_attention(tokens, tokens, tokens)
'''


def write_budget(root: Path, body: str) -> Path:
    (root / "fg_variant_nets.py").write_text(NETS)
    path = root / "flopguard.yaml"
    path.write_text("version: 1\nmodels:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return path


def measured(path: Path) -> dict[str, ModelResult]:
    from pytest_flopguard.run.gate import Gate

    gate = Gate(load_budget(path))
    gate.measure_all()
    assert all(r.error is None for r in gate.measured.values()), gate.measured
    return gate.measured


# --- measuring --------------------------------------------------------------------


def test_448_gives_exactly_4x_the_conv_macs_of_224(tmp_path: Path) -> None:
    path = write_budget(
        tmp_path,
        """
        net:
          model: fg_variant_nets:build
          inputs: [[1, 3, 224, 224]]
          resolutions: [224, 448]
        """,
    )
    results = measured(path)
    convs = {name: {m.path: m.macs for m in r.modules if m.path in ("0", "2")} for name, r in results.items()}
    assert convs["net[224]"] == {
        "0": 5_419_008,  # 16 out x 112*112 positions x 3*3*3 = 5,419,008
        "2": 14_450_688,  # 32 out x 56*56 x 16*3*3 = 14,450,688
    }
    assert convs["net[448]"] == {
        "0": 21_676_032,  # 16 x 224*224 x 27 = 4 x 5,419,008
        "2": 57_802_752,  # 32 x 112*112 x 144 = 4 x 14,450,688
    }
    # The head after global pooling does not grow: 32*10 = 320 MACs at both sizes.
    assert results["net[224]"].metrics["macs"] == 19_870_016  # 5,419,008 + 14,450,688 + 320
    assert results["net[448]"].metrics["macs"] == 79_479_104  # 21,676,032 + 57,802,752 + 320
    assert results["net[448]"].variant == Variant("net", "448", (448, 448), 1, None, "")
    # Convolutions scale with the pixels (x3.99998 < x4): no scaling note.
    assert compare(None, Results(models=results)).scaling == ()


def test_bf16_same_flops_half_the_bytes_and_weights(tmp_path: Path) -> None:
    path = write_budget(
        tmp_path,
        """
        net:
          model: fg_variant_nets:build
          inputs: [[1, 3, 224, 224]]
          dtype: [float32, bfloat16]
        """,
    )
    results = measured(path)
    fp32, bf16 = results["net[fp32]"], results["net[bf16]"]
    for key in ("macs", "flops", "flops_other", "params"):
        assert bf16.metrics[key] == fp32.metrics[key]
    assert fp32.metrics["memory_access"] == 5_440_976
    assert bf16.metrics["memory_access"] == 2_720_488  # every operand, weights included, at 2 bytes instead of 4
    assert bf16.metrics["peak_memory"] * 2 == fp32.metrics["peak_memory"]
    assert bf16.execution == fp32.execution == "hybrid"  # counted on meta weights, no real run needed
    assert bf16.variant is not None and bf16.variant.dtype == "bfloat16"


def test_dtype_holds_on_the_real_cpu_run_too(tmp_path: Path) -> None:
    path = write_budget(
        tmp_path,
        """
        gated:
          model: fg_variant_nets:WeightGated
          inputs: [[1, 3, 32, 32]]
          dtype: [float32, float16]
        """,
    )
    results = measured(path)
    fp32, fp16 = results["gated[fp32]"], results["gated[fp16]"]
    assert fp16.execution == fp32.execution == "real"  # `.item()` on a weight: hybrid gave way to a CPU run
    assert fp16.metrics["macs"] == fp32.metrics["macs"] == 221_184  # 8 out x 32*32 x 3*3*3
    assert fp16.metrics["memory_access"] * 2 == fp32.metrics["memory_access"] == 111_492


def test_bf16_weights_take_half_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model as the runner builds it: the factory's weights converted to the variant's dtype."""
    import torch

    from pytest_flopguard.measure.factory import in_dtype, load_object

    path = write_budget(
        tmp_path,
        """
        net:
          model: fg_variant_nets:build
          inputs: [[1, 3, 8, 8]]
          dtype: [float32, bfloat16]
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def weight_bytes(name: str) -> int:
        spec = load_budget(path).model(name)
        assert spec.model is not None
        with torch.device("meta"):
            model = in_dtype(load_object(spec.model, "model")(**spec.kwargs), spec.dtype)
        return sum(p.numel() * p.element_size() for p in model.parameters())

    assert weight_bytes("net[fp32]") == 21_672  # (16*27+16) + (32*144+32) + (32*10+10) = 5,418 params x 4 bytes
    assert weight_bytes("net[bf16]") == 10_836  # x 2 bytes


def test_global_attention_outgrows_the_pixels(tmp_path: Path) -> None:
    path = write_budget(
        tmp_path,
        """
        vit:
          model: fg_variant_nets:PatchAttention
          inputs: [[1, 3, 64, 64]]
          resolutions: [64, 128]
        """,
    )
    results = measured(path)
    # 64x64: N = 16 patches. embed 8 x 16 x 3*16*16 = 98,304; attention 2 x N*N*8 = 4,096.
    assert results["vit[64]"].metrics["macs"] == 102_400
    # 128x128: N = 64. embed 4 x 98,304 = 393,216; attention 2 x 64*64*8 = 65,536 (x16).
    assert results["vit[128]"].metrics["macs"] == 458_752
    notes = compare(None, Results(models=results)).scaling
    assert notes == (ScalingNote("vit", "", (64, 64), (128, 128), 458_752 / 102_400, 4.0),)


# --- the scaling check on results --------------------------------------------------


def variant_result(size: tuple[int, int], flops: int, group: str = "", family: str = "det") -> ModelResult:
    return ModelResult(metrics={"flops": flops, "params": 1000}, variant=Variant(family, "x", size, 1, None, group))


@pytest.mark.parametrize(
    ("flops_448", "noted"),
    [
        (4_000, False),  # x4 for x4 the pixels
        (4_040, False),  # x4.04: 1.01 exactly is not above the threshold
        (4_041, True),  # just past it
        (16_000, True),  # quadratic
        (3_000, False),  # grows slower
    ],
)
def test_scaling_threshold(flops_448: int, noted: bool) -> None:
    head = Results(
        models={"det[224]": variant_result((224, 224), 1_000), "det[448]": variant_result((448, 448), flops_448)}
    )
    assert bool(scaling_notes(head)) is noted


def test_scaling_compares_within_a_group_against_the_smallest() -> None:
    head = Results(
        models={
            "a": variant_result((224, 224), 1_000, "b1"),
            "b": variant_result((448, 448), 5_000, "b1"),  # x5 for x4 pixels
            "c": variant_result((896, 896), 16_000, "b1"),  # x16 for x16: fine
            "d": variant_result((448, 448), 4_000, "b8"),  # another group, alone at 448: no pair
            "e": ModelResult(metrics={"flops": 9}),  # a plain model
        }
    )
    assert scaling_notes(head) == (ScalingNote("det", "b1", (224, 224), (448, 448), 5.0, 4.0),)


def test_scaling_skips_groups_with_two_variants_at_one_size() -> None:
    head = Results(
        models={
            "a": variant_result((224, 224), 1_000),
            "b": variant_result((224, 224), 2_000),
            "c": variant_result((448, 448), 9_000),
        }
    )
    assert scaling_notes(head) == ()


# --- the budget file ------------------------------------------------------------------


def test_explicit_variants_crossed_with_a_dtype_matrix(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            defaults:
              tolerance: {memory_access: 0.5%}
            models:
              detector:
                model: models.vision:build_detector
                kwargs: {width: 32}
                limits: {flops: 12G}
                accuracy: 50.1
                variants:
                  640: {inputs: [[1, 3, 640, 640]]}
                  1280:
                    inputs: [[1, 3, 1280, 1280]]
                    kwargs: {heads: 2}
                    limits: {flops: 48G}
                    accuracy: 53.4
                dtype: [float32, bfloat16]
            """
        )
    )
    budget = load_budget(path)
    assert [m.name for m in budget.models] == [
        "detector[640-fp32]",
        "detector[640-bf16]",
        "detector[1280-fp32]",
        "detector[1280-bf16]",
    ]
    small, large = budget.model("detector[640-bf16]"), budget.model("detector[1280-fp32]")
    assert small.inputs == InputsSpec(args=(TensorSpec((1, 3, 640, 640), "bfloat16"),))
    assert small.dtype == "bfloat16" and small.kwargs == {"width": 32}
    assert small.limits == {"flops": 12e9} and small.limit_lines == {"flops": 8}
    assert small.tolerance == {"memory_access": 0.005}  # defaults are shared too
    assert small.accuracy == 50.1 and large.accuracy == 53.4
    assert large.kwargs == {"width": 32, "heads": 2}  # merged over the entry's kwargs
    assert large.limits == {"flops": 48e9} and large.limit_lines == {"flops": 15}
    assert str(large.location) == f"{budget.display}:12 models.detector.variants.1280"
    assert small.variant == Variant("detector", "640-bf16", (640, 640), 1, "bfloat16", "bf16")
    # 1280 changes kwargs too: its FLOPs are not only the resolution's, so it is not compared.
    assert large.variant == Variant("detector", "1280-fp32", None, 1, "float32", "1280-fp32")
    assert budget.names_for("detector") == tuple(m.name for m in budget.models)
    assert budget.names_for("detector[640-bf16]") == ("detector[640-bf16]",)
    assert budget.errors == ()


def test_matrix_with_per_variant_settings(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            models:
              classifier:
                model: models.vision:build_classifier
                inputs: [[1, 3, 224, 224], {shape: [1, 16], dtype: int64}]
                limits: {flops: 2G, params: 30M}
                resolutions: [224, [384, 640]]
                batch: [1, 8]
                dtype: [bf16]
                per_variant:
                  b8: {limits: {flops: 16G}}
                  384x640: {limits: {flops: 6G}, accuracy: 80}
                  384x640-b8: {limits: {flops: 40G}}
              plain:
                model: models.vision:build_classifier
                inputs: [[1, 3, 32, 32], {shape: [1, 4], dtype: int64}]
                dtype: float16
            """
        )
    )
    budget = load_budget(path)
    assert [m.name for m in budget.models] == [
        "classifier[224-b1-bf16]",
        "classifier[224-b8-bf16]",
        "classifier[384x640-b1-bf16]",
        "classifier[384x640-b8-bf16]",
        "plain",
    ]
    flops = {m.name: m.limits["flops"] for m in budget.models if m.name != "plain"}
    assert flops == {
        "classifier[224-b1-bf16]": 2e9,
        "classifier[224-b8-bf16]": 16e9,
        "classifier[384x640-b1-bf16]": 6e9,
        "classifier[384x640-b8-bf16]": 40e9,  # the most specific key wins over `b8` and `384x640`
    }
    wide = budget.model("classifier[384x640-b8-bf16]")
    # H and W of the image, dim 0 of every input; integer ids keep their dtype.
    assert wide.inputs.args == (TensorSpec((8, 3, 384, 640), "bfloat16"), TensorSpec((8, 16), "int64"))
    assert wide.limits["params"] == 30e6 and wide.accuracy == 80.0
    assert wide.limit_lines["flops"] == 13
    assert wide.variant == Variant("classifier", "384x640-b8-bf16", (384, 640), 8, "bfloat16", "b8-bf16")
    plain = budget.model("plain")
    assert plain.variant is None and plain.dtype == "float16"
    assert plain.inputs.args == (TensorSpec((1, 3, 32, 32), "float16"), TensorSpec((1, 4), "int64"))


def test_explicit_variants_need_no_shared_inputs(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "version: 1\nmodels:\n  det:\n    model: a:b\n    variants:\n"
        "      small: {inputs: [[1, 3, 320, 320]]}\n      big: {inputs: [[2, 3, 640, 640]]}\n"
    )
    budget = load_budget(path)
    assert budget.errors == ()
    assert budget.model("det[big]").variant == Variant("det", "big", (640, 640), 2, None, "")
    # Twice the batch and four times the pixels: x8 FLOPs is not a resolution-dependent layer.
    small, big = variant_result((320, 320), 1_000), variant_result((640, 640), 8_000)
    big = ModelResult(metrics=big.metrics, variant=budget.model("det[big]").variant)
    assert scaling_notes(Results(models={"s": small, "b": big})) == ()


def test_an_entry_with_an_error_stays_one_entry(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "version: 1\nmodels:\n  bad:\n    model: a:b\n    inputs: [[1, 3, 8, 8]]\n    resolutions: [8, 16]\n"
        "    limits: {flopz: 1G}\n  good:\n    model: a:b\n    inputs: [[1, 3, 8, 8]]\n    resolutions: [8, 16]\n"
    )
    budget = load_budget(path)
    assert [m.name for m in budget.models] == ["bad", "good[8]", "good[16]"]
    assert [e.code for e in budget.model("bad").errors] == ["FG107"]


# One file per error: (file, the entry it is pinned on, exact text).
CASES = [
    (
        "variant_unknown_key.yaml",
        "detector",
        "variant_unknown_key.yaml:8 models.detector.variants.1280.input: unknown key 'input'; did you mean 'inputs'? [FG107]\n  fix: rename it to 'inputs'",
    ),
    (
        "bad_variant_id.yaml",
        "detector",
        "bad_variant_id.yaml:7 models.detector.variants.full hd: variant id 'full hd' may hold only letters, digits, `_`, `.` and `-` [FG140]\n  fix: rename it, e.g. `640`, `large` or `int8-calibrated`",
    ),
    (
        "bad_resolution.yaml",
        "classifier",
        "bad_resolution.yaml:6 models.classifier.resolutions[1]: a resolution is a side or [height, width] of integers >= 1, got [448, 448, 3] [FG141]\n  fix: write e.g. 448 or [384, 640]",
    ),
    (
        "bad_variant_dtype.yaml",
        "classifier",
        "bad_variant_dtype.yaml:6 models.classifier.dtype[1]: a model converts to a floating dtype, not 'int8' [FG142]\n  fix: use one of: float32, float16, bfloat16, float64 (or fp32, fp16, bf16, fp64)",
    ),
    (
        "resolution_without_image.yaml",
        "gpt",
        "resolution_without_image.yaml:7 models.gpt.resolutions: `resolutions` resizes H and W of 4-D floating-point inputs (N, C, H, W), but the entry has only [1, 128] int64 [FG143]\n  fix: give an image input such as [1, 3, 224, 224], or list the sizes as `variants:` with their own inputs",
    ),
    (
        "batch_from_function.yaml",
        "gpt",
        "batch_from_function.yaml:6 models.gpt.batch: `batch` sets dim 0 of each input shape, but the entry gets its inputs from a function [FG143]\n  fix: give the inputs as shapes, or list the batch sizes as `variants:` with their own inputs",
    ),
    (
        "dtype_onnx.yaml",
        "detector",
        "dtype_onnx.yaml:6 models.detector.dtype: `dtype` converts a PyTorch model's weights; an ONNX graph's types are fixed in the file [FG143]\n  fix: export the graph in that dtype and budget it as its own model",
    ),
    (
        "duplicate_variant.yaml",
        "classifier",
        "duplicate_variant.yaml:6 models.classifier.dtype[1]: 'bf16' is listed twice, at [0] and [1] [FG144]\n  fix: list it once (`bf16` is `bfloat16`, and `224` is `[224, 224]`)",
    ),
    (
        "per_variant_no_match.yaml",
        "classifier",
        "per_variant_no_match.yaml:9 models.classifier.per_variant.44: '44' matches no variant; did you mean '448'? [FG145]\n  fix: use a variant id (224-b1, 224-b8, 448-b1, 448-b8) or parts of one",
    ),
    (
        "per_variant_conflict.yaml",
        "classifier",
        "per_variant_conflict.yaml:10 models.classifier.per_variant.b8: '448' and 'b8' both set limits.flops for variant 448-b8 [FG145]\n  fix: set it under `448-b8`, which wins over both",
    ),
    (
        "bad_accuracy.yaml",
        "classifier",
        "bad_accuracy.yaml:6 models.classifier.accuracy: accuracy is a plain number, got '76.1%' [FG146]\n  fix: write the figure you report, e.g. `accuracy: 76.1` (it is plotted, never gated)",
    ),
]


@pytest.mark.parametrize(("name", "model", "expected"), CASES, ids=[c[0] for c in CASES])
def test_variant_error(name: str, model: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    budget = load_budget(name)
    assert [m.name for m in budget.models] == [model]  # not expanded: one entry that carries the error
    errors = budget.model(model).errors
    assert [str(e) for e in errors] == [expected]
    assert isinstance(errors[0], BudgetError) and errors[0].model == model


# --- results, plot, pytest, CLI ----------------------------------------------------------


def test_results_json_carries_variant_and_accuracy() -> None:
    result = ModelResult(
        metrics={"flops": 10, "params": 2},
        variant=Variant("det", "640-bf16", (640, 640), 1, "bfloat16", "bf16"),
        accuracy=51.5,
    )
    data = to_json(Results(models={"det[640-bf16]": result, "plain": ModelResult(metrics={"flops": 1})}))
    entry = json.loads(json.dumps(data))["models"]["det[640-bf16]"]
    assert entry["variant"] == {
        "family": "det",
        "id": "640-bf16",
        "resolution": [640, 640],
        "batch": 1,
        "dtype": "bfloat16",
        "group": "bf16",
    }
    assert entry["accuracy"] == 51.5
    assert "variant" not in data["models"]["plain"] and "accuracy" not in data["models"]["plain"]
    back = from_json(json.loads(json.dumps(data)))
    assert back.models["det[640-bf16]"].variant == result.variant
    assert back.models["det[640-bf16]"].accuracy == 51.5


def plot_points(svg: str, panel: str) -> list[str]:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    group = root.find(f".//{SVG}g[@id='{panel}']")
    assert group is not None
    return [c.attrib["data-model"] for c in group.iter(f"{SVG}circle")]


def test_plot_has_one_point_per_model_and_escapes_names() -> None:
    def result(flops: int, params: int, accuracy: float | None = None) -> ModelResult:
        return ModelResult(metrics={"flops": flops, "params": params}, accuracy=accuracy)

    models = {
        "a<b>&'\"": result(1_000_000, 10_000),
        "det[640]": result(4_000_000, 50_000, 70.5),
        "det[1280]": result(16_000_000, 50_000, 74.0),
        "broken": ModelResult(metrics={}),  # no figures: named below the plot instead
    }
    svg = render_plot(Results(models=models))
    assert sorted(plot_points(svg, "flops-params")) == sorted(["a<b>&'\"", "det[640]", "det[1280]"])
    assert sorted(plot_points(svg, "accuracy-flops")) == ["det[1280]", "det[640]"]
    assert "not plotted (no figures): broken" in svg
    no_accuracy = render_plot(Results(models={"m": result(10, 10)}))
    assert ET.fromstring(no_accuracy).find(f".//{SVG}g[@id='accuracy-flops']") is None


@pytest.mark.slow
def test_check_writes_the_plot_and_model_selects_a_family(tmp_path: Path) -> None:
    write_budget(
        tmp_path,
        """
        net:
          model: fg_variant_nets:build
          inputs: [[1, 3, 32, 32]]
          resolutions: [32, 64]
          accuracy: 61.0
        other:
          model: fg_variant_nets:build
          inputs: [[1, 3, 32, 32]]
        """,
    )
    done = run_cli("check", "--model", "net", "--plot", "out.svg", "--json", "out.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flopguard: plot written to out.svg" in done.stdout
    assert sorted(plot_points((tmp_path / "out.svg").read_text(), "flops-params")) == ["net[32]", "net[64]"]
    assert sorted(json.loads((tmp_path / "out.json").read_text())["models"]) == ["net[32]", "net[64]"]


@pytest.mark.slow
def test_k_selects_only_the_640_variants(pytester: pytest.Pytester) -> None:
    write_budget(
        pytester.path,
        """
        det:
          model: fg_variant_nets:build
          inputs: [[1, 3, 32, 32]]
          variants:
            320: {inputs: [[1, 3, 320, 320]]}
            640: {inputs: [[1, 3, 640, 640]]}
          dtype: [float32, bfloat16]
        """,
    )
    result = pytester.runpytest_subprocess("--flopguard", "-v", "-k", "640", "--flopguard-json", "out.json")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.re_match_lines([re.escape(f"flopguard.yaml::det[640-{dtype}] PASSED") for dtype in ("fp32", "bf16")])
    assert "det[320" not in result.stdout.str().split("= flopguard =")[0]
    data = json.loads((pytester.path / "out.json").read_text())
    assert sorted(data["models"]) == ["det[640-bf16]", "det[640-fp32]"]
    assert data["models"]["det[640-bf16]"]["variant"]["dtype"] == "bfloat16"
    assert len(data["budget_models"]) == 4


def test_a_dtype_variant_is_timed_in_its_dtype(tmp_path: Path) -> None:
    import torch

    from pytest_flopguard.measure.latency.bench import load_bench

    (tmp_path / "fg_timed_net.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(8, 8)\n")
    budget = tmp_path / "flopguard.yaml"
    budget.write_text(
        "version: 1\nmodels:\n  net:\n    model: fg_timed_net:build\n    inputs: [[2, 8]]\n    dtype: [float32, bfloat16]\n"
    )
    spec = load_budget(budget).model("net[bf16]")
    out = load_bench(spec, tmp_path, "cpu").call()  # float32 inputs into bf16 weights would raise
    assert out.dtype == torch.bfloat16
