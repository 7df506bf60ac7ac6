"""`pytest --flopguard` end to end, through pytester sessions on a copy of example_repo.

Every session runs in a subprocess: in-process runs restore `sys.modules`
afterwards, and torch's C extensions (and the submodules it imports lazily)
cannot be imported twice in one process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def set_limit(root: Path, old: str, new: str) -> None:
    budget = root / "flopguard.yaml"
    text = budget.read_text()
    assert old in text
    budget.write_text(text.replace(old, new))


def test_example_passes_with_one_item_per_model(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess("--flopguard", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "flopguard.yaml::classifier PASSED*",
            "flopguard.yaml::tiny_gpt PASSED*",
            "*= flopguard =*",
            "flopguard passed: 3 ok",
            "model*metric*head*limit*verdict",
            "classifier*macs*",
        ]
    )


def test_over_limit_names_metric_figure_and_limit(repo: pytest.Pytester) -> None:
    set_limit(repo.path, "flops: 600M", "flops: 1K")
    result = repo.runpytest_subprocess("--flopguard")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*classifier: 1 metric(s) failed",
            "*flops * is over its limit 1K (*% of it) (flopguard.yaml:13)",
            "flopguard FAILED: 1 over-limit, 2 ok",
        ]
    )


def test_without_flag_the_plugin_is_inert(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "= flopguard =" not in result.stdout.str()
    assert not (repo.path / "flopguard-results.json").exists()


def test_k_selects_models_and_reports_others_not_run(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess("--flopguard", "-k", "tiny_gpt", "--flopguard-json", "out.json")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["flopguard passed: 2 not-run, 1 ok"])
    data = json.loads((repo.path / "out.json").read_text())
    assert list(data["models"]) == ["tiny_gpt"]
    assert data["budget_models"] == ["classifier", "tiny_gpt", "detector"]


def test_budget_outside_testpaths_is_still_collected(repo: pytest.Pytester) -> None:
    repo.makeini("[pytest]\ntestpaths = tests\n")
    (repo.path / "tests").mkdir()
    repo.makepyfile(**{"tests/test_x": "def test_x():\n    pass\n"})
    result = repo.runpytest_subprocess("--flopguard")
    result.assert_outcomes(passed=4)


def test_json_and_markdown_outputs(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess(
        "--flopguard", "--flopguard-json", "r/results.json", "--flopguard-markdown", "r/report.md"
    )
    result.assert_outcomes(passed=3)
    data = json.loads((repo.path / "r" / "results.json").read_text())
    for name in ("classifier", "tiny_gpt"):
        metrics = data["models"][name]["metrics"]
        assert all(isinstance(metrics[k], int) and metrics[k] > 0 for k in ("macs", "flops", "params", "memory_access"))
        assert metrics["flops"] == 2 * metrics["macs"]
    report = (repo.path / "r" / "report.md").read_text()
    assert report.startswith("<!-- pytest-flopguard:report -->")


def test_baseline_regression_fails_the_item(repo: pytest.Pytester) -> None:
    repo.runpytest_subprocess("--flopguard", "--flopguard-json", "base.json").assert_outcomes(passed=3)
    widened = repo.path / "flopguard.yaml"
    widened.write_text(widened.read_text().replace("width: 32", "width: 36"))
    result = repo.runpytest_subprocess("--flopguard", "--flopguard-baseline", "base.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*macs regressed: * -> *, +* (+*%), tolerance 0%", "flopguard FAILED: 1 regressed, 2 ok"]
    )


def test_config_error_fails_that_model_only(repo: pytest.Pytester) -> None:
    set_limit(repo.path, "flops: 600M", "flopz: 600M")
    result = repo.runpytest_subprocess("--flopguard")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*classifier: could not be measured: BudgetError at flopguard.yaml:13 models.classifier.limits.flopz: unknown key 'flopz'; did you mean 'flops'? [[]FG107[]]*"
        ]
    )


def test_broken_budget_is_a_usage_error(repo: pytest.Pytester) -> None:
    (repo.path / "flopguard.yaml").write_text("version: 9\nmodels: {}\n")
    result = repo.runpytest_subprocess("--flopguard")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*flopguard: flopguard.yaml:1 version: budget version 9 is not supported*"])


def test_model_exception_is_reported_on_that_model(repo: pytest.Pytester) -> None:
    (repo.path / "models" / "broken.py").write_text("def build():\n    raise ValueError('no such width')\n")
    budget = repo.path / "flopguard.yaml"
    budget.write_text(budget.read_text() + "  broken:\n    model: models.broken:build\n    inputs: [[1, 4]]\n")
    result = repo.runpytest_subprocess("--flopguard")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*broken: could not be measured: ValueError at models/broken.py:2: no such width"])


def test_fixture_measure_and_assert_within(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import torch

        def test_small(flopguard):
            m = flopguard.measure(torch.nn.Linear(512, 1000), [(1, 512)])
            assert m.macs == 512_000  # 512 * 1000
            m.assert_within(macs="600K", params="600K")

        def test_too_big(flopguard):
            flopguard.measure(torch.nn.Linear(512, 1000), [(1, 512)]).assert_within(flops="1M")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: flopguard: over budget: flops 1.02M > limit 1M (1024000 > 1000000)"])


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, pytest_flopguard, pytest_flopguard.plugin; heavy = {'torch', 'onnx', 'jinja2', 'git'} & set(sys.modules); assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_error_names_module_and_fix(repo: pytest.Pytester) -> None:
    budget = repo.path / "flopguard.yaml"
    budget.write_text(budget.read_text() + "  ghost:\n    model: models.nothere:build\n    inputs: [[1, 4]]\n")
    result = repo.runpytest_subprocess("--flopguard")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ghost: could not be measured: FlopguardError at flopguard.yaml:35 models.ghost: cannot import 'models.nothere' for model 'models.nothere:build':"
            " no module named 'models.nothere' [[]FG301[]] — fix: paths are relative to the budget file's folder*"
        ]
    )


def test_explicit_budget_path_is_relative_to_where_pytest_runs(
    repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = repo.path / "sub"
    sub.mkdir()
    (sub / "tiny.yaml").write_text("version: 1\nmodels:\n  lin:\n    model: tinymod:build\n    inputs: [[1, 4]]\n")
    (sub / "tinymod.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(4, 2)\n")
    monkeypatch.chdir(sub)
    result = repo.runpytest_subprocess("--flopguard", "--flopguard-budget", "tiny.yaml", "--rootdir", str(repo.path))
    result.assert_outcomes(passed=1)


def test_options_that_were_the_command_lines_alone_work_in_pytest(
    repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--plot, --base-json, --github-output and the Actions summary came to pytest with the one
    options table and the one `finish` (run/start.py): the same files as `flopguard check`."""
    output, summary = repo.path / "gh-output.txt", repo.path / "summary.md"
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo.path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo.path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"], cwd=repo.path, check=True
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    result = repo.runpytest_subprocess(
        "--flopguard", "--flopguard-no-latency", "--flopguard-base", "main", "--flopguard-plot", "plot.svg",
        "--flopguard-base-json", "base.json", "--flopguard-markdown", "report.md", "--flopguard-github-output",
        "--flopguard-worker-memory", "16GiB",
    )  # fmt: skip
    result.assert_outcomes(passed=3)
    assert (repo.path / "plot.svg").read_text().startswith("<svg")
    assert set(json.loads((repo.path / "base.json").read_text())["models"]) == {"classifier", "detector", "tiny_gpt"}
    lines = output.read_text().splitlines()
    assert "regressions=0" in lines and f"report={repo.path / 'report.md'}" in lines
    assert f"base-results={repo.path / 'base.json'}" in lines
    assert "classifier" in summary.read_text()
