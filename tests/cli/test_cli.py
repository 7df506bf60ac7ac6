"""The `flopguard` command as a subprocess, on a copy of example_repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_measure_writes_integer_metrics(example_copy: Path) -> None:
    proc = run_cli("measure", "--json", "out.json", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((example_copy / "out.json").read_text())
    assert data["schema"] == 1
    for name in ("classifier", "tiny_gpt"):
        metrics = data["models"][name]["metrics"]
        for key in ("macs", "flops", "params", "memory_access"):
            assert isinstance(metrics[key], int) and metrics[key] > 0, (name, key)
    assert "classifier" in proc.stdout and "tiny_gpt" in proc.stdout


def test_misspelled_key_exits_2_with_line_and_suggestion(example_copy: Path) -> None:
    edit(example_copy / "flopguard.yaml", "flops: 600M", "flopz: 600M")
    proc = run_cli("check", cwd=example_copy)
    assert proc.returncode == 2
    assert (
        "flopguard.yaml:13 models.classifier.limits.flopz: unknown key 'flopz'; did you mean 'flops'? [FG107]"
        in proc.stderr
    )
    assert "fix: rename it to 'flops'" in proc.stderr
    # The other model is still measured and reported.
    assert any(line.startswith("tiny_gpt") and "macs" in line for line in proc.stdout.splitlines())


def test_check_over_limit_exits_1(example_copy: Path) -> None:
    edit(example_copy / "flopguard.yaml", "flops: 600M", "flops: 1K")
    proc = run_cli("check", "--markdown", "report.md", cwd=example_copy)
    assert proc.returncode == 1, proc.stderr
    assert "flopguard FAILED: 1 over-limit, 2 ok" in proc.stdout
    assert "over-limit" in (example_copy / "report.md").read_text()


def test_compare_shows_regression_new_and_removed(example_copy: Path) -> None:
    budget = example_copy / "flopguard.yaml"
    assert run_cli("measure", "--json", "base.json", cwd=example_copy).returncode == 0
    edit(budget, "width: 32", "width: 36")
    edit(budget, "tiny_gpt:", "gpt_renamed:")
    assert run_cli("measure", "--json", "head.json", cwd=example_copy).returncode == 0
    proc = run_cli("compare", "base.json", "head.json", "--markdown", "r.md", cwd=example_copy)
    assert proc.returncode == 1
    assert "flopguard FAILED: 1 regressed, 1 new, 1 removed" in proc.stdout
    report = (example_copy / "r.md").read_text()
    assert "🔺 regressed" in report and "🆕 new" in report and "➖ removed" in report
    assert "+100%" not in report and "-100%" not in report


def test_compare_identical_files_passes(example_copy: Path) -> None:
    assert run_cli("measure", "--json", "a.json", cwd=example_copy).returncode == 0
    proc = run_cli("compare", "a.json", "a.json", cwd=example_copy)
    assert proc.returncode == 0
    assert "flopguard passed: 3 ok" in proc.stdout


def test_explain_prints_module_tree(example_copy: Path) -> None:
    proc = run_cli("explain", "classifier", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["module", "type", "calls", "params", "MACs", "FLOPs", "flops_other", "bytes"]
    assert lines[1].split()[:2] == ["classifier", "Classifier"]
    assert any(line.split()[:2] == ["conv1", "Conv2d"] for line in lines)
    # The convention, and where the mapping to other counters is written down.
    assert lines[-2].startswith("convention: flops = 2 x macs of matmul-class ops")
    assert lines[-1].endswith(
        "FlopCounterMode (bias adds and pooling in flops_other, 2 FLOPs per MAC): docs/conventions.md in pytest-flopguard"
    )


def test_unknown_model_and_missing_budget_exit_2(tmp_path: Path, example_copy: Path) -> None:
    proc = run_cli("measure", "--model", "nope", cwd=example_copy)
    assert proc.returncode == 2
    assert "no model named 'nope' in flopguard.yaml [FG130]" in proc.stderr
    proc = run_cli("check", cwd=tmp_path)
    assert proc.returncode == 2
    assert "budget file not found [FG100]" in proc.stderr


CUSTOM_OP_MODEL = """
import torch
from torch import nn


@torch.library.custom_op("flopguard_example::smooth", mutates_args=())
def smooth(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@smooth.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class WithCustomOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return smooth(self.lin(x))
"""


def test_custom_op_is_listed_as_uncounted(example_copy: Path) -> None:
    (example_copy / "models" / "custom.py").write_text(CUSTOM_OP_MODEL)
    budget = example_copy / "flopguard.yaml"
    budget.write_text(budget.read_text() + "  custom:\n    model: models.custom:WithCustomOp\n    inputs: [[2, 16]]\n")
    proc = run_cli("check", "--model", "custom", "--markdown", "r.md", cwd=example_copy)
    assert proc.returncode == 0, proc.stderr
    assert (
        "  custom: uncounted ops (no FLOP formula, not in the totals): flopguard_example.smooth.default x1"
        in proc.stdout
    )
    report = (example_copy / "r.md").read_text()
    assert "Uncounted ops (no FLOP formula; not in the totals): flopguard_example.smooth.default ×1" in report


def test_in_actions_check_writes_summary_and_annotations_and_neutralises(example_copy: Path, tmp_path: Path) -> None:
    (example_copy / "models" / "loud.py").write_text(
        "import torch\n\ndef build():\n    raise ValueError('boom\\n::add-mask::secret\\n::set-output name=x::1')\n"
    )
    budget = example_copy / "flopguard.yaml"
    edit(budget, "flops: 600M", "flops: 1K")
    # A model name (a fork can edit the budget) that would be a workflow command at a line start.
    budget.write_text(
        budget.read_text() + '  "::add-mask::pwned":\n    model: models.loud:build\n    inputs: [[1, 4]]\n'
    )
    summary = tmp_path / "summary.md"
    proc = run_cli("check", cwd=example_copy, env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    commands = [line for line in (proc.stdout + proc.stderr).splitlines() if line.lstrip().startswith("::")]
    assert commands == [
        "::error file=flopguard.yaml,line=13,title=flopguard%3A classifier flops over its limit::"
        "classifier: flops is 393M, over its limit 1K"
    ]
    assert "\u200b::add-mask::pwned" in proc.stdout  # printed, inert
    text = summary.read_text()
    assert text.startswith("<!-- pytest-flopguard:report -->") and "over-limit" in text
