"""Budget loading: valid files, and one small file per error with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.budget.schema import InputsSpec, TensorSpec
from pytest_flopguard.errors import BudgetError

DATA = Path(__file__).parent.parent / "data" / "budgets"


def test_example_budget_loads(example_copy: Path) -> None:
    budget = load_budget(example_copy / "flopguard.yaml")
    assert [m.name for m in budget.models] == ["classifier", "tiny_gpt", "detector"]
    classifier = budget.model("classifier")
    assert classifier.model == "models.vision:build_classifier"
    assert classifier.kwargs == {"width": 32, "num_classes": 10}
    assert classifier.inputs == InputsSpec(args=(TensorSpec((1, 3, 64, 64)),))
    assert classifier.limits == {
        "flops": 600_000_000,
        "params": 1_000_000,
        "memory_access": 40_000_000,
        "latency_estimate.jetson-orin-nano": 0.002,
    }
    assert classifier.tolerance == {"memory_access": 0.005}  # from defaults
    assert classifier.limit_lines == {
        "flops": 13,
        "params": 14,
        "memory_access": 15,
        "latency_estimate.jetson-orin-nano": 16,
    }
    gpt = budget.model("tiny_gpt")
    assert gpt.inputs.kwargs == (("input_ids", TensorSpec((1, 128), "int64")),)
    assert budget.errors == ()


def test_full_syntax(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "\ufeffversion: 1\r\n"  # a BOM and CRLF line ends are fine
        "defaults:\n  device: cpu\n  tolerance: {flops: 0%, latency: 10%}\n  limits: {params: 10M}\n"
        "models:\n"
        "  no:\n"  # YAML 1.1 would make this key the boolean False
        "    model: pkg.mod:build\n"
        "    inputs: 'pkg.mod:make_inputs'\n"
        "    limits: {flops: 1.2GFLOPs, latency: {cpu: 25ms, cuda: 2ms}, latency_estimate: {jetson-orin-nano: 4ms}}\n"
        "    tolerance: {latency: 5%}\n"
        "  ids:\n"
        "    model: pkg.mod:build\n"
        "    inputs: [{shape: [1, 16], dtype: torch.int64, range: [0, 100]}]\n",
        encoding="utf-8",
    )
    budget = load_budget(path)
    no = budget.model("no")
    assert no.inputs == InputsSpec(factory="pkg.mod:make_inputs")
    assert no.limits == {
        "params": 10_000_000,
        "flops": 1_200_000_000,
        "latency.cpu": 0.025,
        "latency.cuda": 0.002,
        "latency_estimate.jetson-orin-nano": 0.004,
    }
    assert no.tolerance == {"flops": 0.0, "latency": 0.05}
    assert budget.model("ids").inputs.args == (TensorSpec((1, 16), "int64", (0, 100)),)


def test_latency_without_a_device_is_on_the_entrys_device(tmp_path: Path) -> None:
    """`device:` (own, else defaults, else cpu) is where a bare `latency: 2ms` is measured."""
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "version: 1\n"
        "defaults:\n  device: cuda\n  limits: {latency: 9ms}\n"  # line 4
        "models:\n"
        "  inherits:\n    model: pkg.mod:build\n    inputs: [[1, 4]]\n"
        "  own:\n    model: pkg.mod:build\n    inputs: [[1, 4]]\n    device: cuda:1\n"
        "    limits: {latency: 2ms}\n"  # line 13
        "  named:\n    model: pkg.mod:build\n    inputs: [[1, 4]]\n    device: cpu\n"
        "    limits: {latency: {cuda: 3ms}}\n"
        "  family:\n    model: pkg.mod:build\n    inputs: [[1, 4]]\n    device: cpu\n"
        "    variants: {small: {}, big: {limits: {latency: 5ms}}}\n",  # line 23
        encoding="utf-8",
    )
    budget = load_budget(path)
    assert budget.errors == ()
    assert budget.model("inherits").device == "cuda"
    assert budget.model("inherits").limits == {"latency.cuda": 0.009}
    assert budget.model("inherits").limit_lines == {"latency.cuda": 4}
    # the default's bare latency is on each entry's own device, where the entry's own wins
    assert budget.model("own").limits == {"latency.cuda:1": 0.002}
    assert budget.model("own").limit_lines == {"latency.cuda:1": 13}
    assert budget.model("named").limits == {"latency.cpu": 0.009, "latency.cuda": 0.003}
    assert budget.model("family[small]").limits == {"latency.cpu": 0.009}
    assert budget.model("family[big]").limits == {"latency.cpu": 0.005}
    assert budget.model("family[big]").limit_lines["latency.cpu"] == 23


# One file per error: (file, the model it is pinned on or None when fatal, exact text).
CASES = [
    (
        "misspelled_limit.yaml",
        "classifier",
        "misspelled_limit.yaml:7 models.classifier.limits.flopz: unknown key 'flopz'; did you mean 'flops'? [FG107]\n  fix: rename it to 'flops'",
    ),
    (
        "bytes_for_flops.yaml",
        "classifier",
        "bytes_for_flops.yaml:6 models.classifier.limits.flops: '4.1 GB' is a byte size, but flops takes a count [FG109]\n  fix: write a count such as 4.1GFLOPs",
    ),
    (
        "misspelled_model_key.yaml",
        "classifier",
        "misspelled_model_key.yaml:4 models.classifier.modle: unknown key 'modle'; did you mean 'model'? [FG107]\n  fix: rename it to 'model'",
    ),
    (
        "no_source.yaml",
        "classifier",
        "no_source.yaml:4 models.classifier: the entry has neither `model:` nor `onnx:` [FG110]\n  fix: give exactly one: `model: package.module:factory` or `onnx: path/to/file.onnx`",
    ),
    (
        "both_sources.yaml",
        "classifier",
        "both_sources.yaml:4 models.classifier: the entry has both `model:` and `onnx:` [FG110]\n  fix: give exactly one: `model: package.module:factory` or `onnx: path/to/file.onnx`",
    ),
    (
        "bad_factory.yaml",
        "classifier",
        "bad_factory.yaml:4 models.classifier.model: 'models.vision.build_classifier' is not `package.module:function` [FG111]\n  fix: name the module and the factory, e.g. `models.vision:build_classifier`",
    ),
    (
        "missing_inputs.yaml",
        "classifier",
        'missing_inputs.yaml:4 models.classifier.inputs: missing `inputs:` [FG113]\n  fix: add e.g. `inputs: [[1, 3, 224, 224]]`, `{input_ids: {shape: [1, 128], dtype: int64}}` or `"pkg.mod:make_inputs"`',
    ),
    (
        "bad_shape.yaml",
        "classifier",
        "bad_shape.yaml:5 models.classifier.inputs[0]: a shape must be a list of integers >= 1, got [1, 3, -32, 32] [FG114]\n  fix: write e.g. [1, 3, 224, 224]",
    ),
    (
        "bad_dtype.yaml",
        "gpt",
        "bad_dtype.yaml:6 models.gpt.inputs.input_ids.dtype: unknown dtype 'int46'; did you mean 'int64'? [FG115]\n  fix: use one of: float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool",
    ),
    (
        "bad_build_on.yaml",
        "detector",
        "bad_build_on.yaml:6 models.detector.build_on: 'gpu' is not one of meta, cpu; did you mean 'cpu'? [FG147]\n  fix: write one of: meta, cpu",
    ),
    (
        "bad_data_dependent.yaml",
        "detector",
        "bad_data_dependent.yaml:6 models.detector.data_dependent: 'upper-bound' is not one of real_run, upper_bound; did you mean 'upper_bound'? [FG148]\n  fix: write one of: real_run, upper_bound",
    ),
    (
        "estimate_not_per_device.yaml",
        "classifier",
        "estimate_not_per_device.yaml:6 models.classifier.limits.latency_estimate: latency_estimate limits name a device profile [FG112]\n  fix: write `latency_estimate: {NAME: 4ms}` with NAME a shipped profile (a100, h100, jetson-orin-nano, laptop-cpu, raspberry-pi-5, t4) or one under `devices:`",
    ),
    (
        "bad_device.yaml",
        "classifier",
        "bad_device.yaml:6 models.classifier.device: latency is measured on `cpu`, `cuda` or `cuda:N`, not 'tpu' [FG118]\n  fix: for a device this runner does not have, use `latency_estimate: {NAME: ...}` with a profile",
    ),
    (
        "bad_tolerance.yaml",
        "classifier",
        "bad_tolerance.yaml:6 models.classifier.tolerance.flops: 0.05 has no unit, but a tolerance takes a percentage [FG109]\n  fix: write 0.05% (or 5% if you meant a fraction)",
    ),
    (
        "bad_floor.yaml",
        "classifier",
        "bad_floor.yaml:6 models.classifier.floor.flops: '2%' is a percentage, but flops takes a count [FG109]\n  fix: write a count such as 2GFLOPs",
    ),
    (
        "duplicate_model.yaml",
        None,
        "duplicate_model.yaml:6 models.classifier: duplicate key 'classifier' (first at line 3) [FG106]\n  fix: remove one of the two entries",
    ),
    (
        "missing_version.yaml",
        None,
        "missing_version.yaml:1 version: missing `version:` [FG104]\n  fix: add `version: 1` at the top of the file",
    ),
    (
        "future_version.yaml",
        None,
        "future_version.yaml:1 version: budget version 7 is not supported by this pytest-flopguard (supports (1,)) [FG104]\n  fix: upgrade pytest-flopguard, or write `version: 1`",
    ),
    (
        "unknown_top_key.yaml",
        None,
        "unknown_top_key.yaml:2 model: unknown key 'model'; did you mean 'models'? [FG107]\n  fix: rename it to 'models'",
    ),
    (
        "yaml_syntax.yaml",
        None,
        "yaml_syntax.yaml:6: not valid YAML: expected ',' or ']', but got '<stream end>' [FG101]\n  fix: fix the YAML syntax at that line",
    ),
    (
        "empty.yaml",
        None,
        "empty.yaml: budget file is empty [FG101]\n  fix: start with `version: 1` and a `models:` mapping",
    ),
    # One bad default is one whole-file error, not one error per model.
    (
        "bad_default_limit.yaml",
        None,
        "bad_default_limit.yaml:3 defaults.limits.flops: '4.1 GB' is a byte size, but flops takes a count [FG109]\n  fix: write a count such as 4.1GFLOPs",
    ),
    (
        "misspelled_default.yaml",
        None,
        "misspelled_default.yaml:3 defaults.tolerence: unknown key 'tolerence'; did you mean 'tolerance'? [FG107]\n  fix: rename it to 'tolerance'",
    ),
]


@pytest.mark.parametrize(("name", "model", "expected"), CASES, ids=[c[0] for c in CASES])
def test_budget_error(name: str, model: str | None, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    if model is None:
        with pytest.raises(BudgetError) as info:
            load_budget(name)
        assert str(info.value) == expected
        return
    budget = load_budget(name)
    errors = budget.model(model).errors
    assert [str(e) for e in errors] == [expected]
    assert errors[0].model == model


def test_factory_only_choices_come_from_defaults_and_are_refused_on_onnx(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "version: 1\ndefaults:\n  data_dependent: upper_bound\n  build_on: cpu\nmodels:\n"
        "  net:\n    model: a:b\n    inputs: [[1]]\n"
        "  graph:\n    onnx: g.onnx\n    inputs: [[1]]\n    data_dependent: upper_bound\n    build_on: meta\n"
    )
    budget = load_budget(path)
    net = budget.model("net")
    assert (net.errors, net.data_dependent, net.build_on) == ((), "upper_bound", "cpu")
    errors = [str(e).removeprefix(f"{path}:") for e in budget.model("graph").errors]
    assert errors == [
        "13 models.graph.build_on: `build_on` applies to a `model:` factory [FG147]\n  fix: remove it",
        "12 models.graph.data_dependent: `data_dependent` applies to a `model:` factory [FG148]\n  fix: remove it",
    ]


def test_model_error_leaves_other_models_usable(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "version: 1\nmodels:\n  bad:\n    model: a:b\n    inputs: [[1]]\n    limits: {flopz: 1G}\n  good:\n    model: a:b\n    inputs: [[1]]\n"
    )
    budget = load_budget(path)
    assert len(budget.model("bad").errors) == 1
    assert budget.model("good").errors == ()


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BudgetError) as info:
        load_budget(tmp_path / "nope.yaml")
    assert "budget file not found [FG100]" in str(info.value)
    assert "--flopguard-budget" in str(info.value)


def test_floor_by_metric_unit_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "flopguard.yaml"
    path.write_text(
        "version: 1\ndefaults:\n  floor: {flops: 1M, memory_access: 4kB}\n"
        "models:\n  m:\n    model: a:b\n    inputs: [[1]]\n    floor: {params: 100, latency: 0.2ms}\n"
        "  n:\n    model: a:b\n    inputs: [[1]]\n"
    )
    budget = load_budget(path)
    assert budget.model("m").floor == {"flops": 1_000_000, "memory_access": 4_000, "params": 100, "latency": 0.0002}
    assert budget.model("n").floor == {"flops": 1_000_000, "memory_access": 4_000}
    assert budget.errors == ()
