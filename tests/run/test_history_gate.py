"""Creep caught across many pull requests (drift), a saving that cannot be given back
(the ratchet), in real git repositories through the real `flopguard` commands.

Each step is a commit whose budget widens one layer; `check` compares it with the
previous step's results and `record` adds it to the history branch, as a CI would on
merge. The commands run in this process (`main([...])`, `--in-process`): torch is
imported once for the 60 runs.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pytest_flopguard.cli.main import main

pytestmark = pytest.mark.slow

NETS = "from torch import nn\n\ndef build(width):\n    return nn.Linear(1000, width)\n"
RUN = ["--in-process", "--no-latency"]
RECORD = ["--in-process"]  # record never times latency


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def budget(width: int, history: str) -> str:
    return (
        f"version: 1\ndefaults:\n  tolerance: {{flops: 2%, params: 2%, memory_access: 2%}}\n{history}models:\n"
        f"  net:\n    model: nets:build\n    kwargs: {{width: {width}}}\n    inputs: [[1, 1000]]\n"
    )


def commit(repo: Path, width: int, history: str, message: str) -> None:
    (repo / "flopguard.yaml").write_text(budget(width, history))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def new_repo(repo: Path, width: int, history: str) -> Path:
    """A repository on `main` whose first commit has the model at `width`."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "nets.py").write_text(NETS)
    commit(repo, width, history, "start")
    return repo


def flopguard(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    here = Path.cwd()
    os.chdir(repo)
    try:
        code = main(list(args))
    finally:
        os.chdir(here)
    out = capsys.readouterr()
    return code, out.out + out.err


def creep(tmp_path: Path, capsys: pytest.CaptureFixture[str], history: str) -> list[tuple[int, str]]:
    """30 merged pull requests, each +1.9% FLOPs: each checked against the last, then recorded."""
    repo = new_repo(tmp_path / "repo", 10_000, history)
    assert flopguard(repo, capsys, "measure", *RUN, "--json", "r0.json")[0] == 0
    assert flopguard(repo, capsys, "record", "--results", "r0.json")[0] == 0
    checks = []
    for step in range(1, 31):
        commit(repo, round(10_000 * 1.019**step), history, f"step {step}")
        checks.append(
            flopguard(
                repo, capsys, "check", *RUN, "--baseline", f"r{step - 1}.json", "--json", f"r{step}.json",
                "--markdown", f"r{step}.md",
            )
        )  # fmt: skip
        if checks[-1][0] != 0:
            break
        assert flopguard(repo, capsys, "record", "--results", f"r{step}.json")[0] == 0
    return checks


def test_thirty_steps_of_one_point_nine_percent_pass_without_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checks = creep(tmp_path, capsys, "")
    assert [code for code, _ in checks] == [0] * 30  # 1.019^30 = 1.76: +76%, and never a red build


def test_drift_fails_the_first_step_past_ten_percent_in_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checks = creep(tmp_path, capsys, "  drift: {flops: 10%}\n")
    assert [code for code, _ in checks] == [0, 0, 0, 0, 0, 1]  # 1.019^5 = 1.0986, 1.019^6 = 1.1195
    passed, failed = checks[4][1], checks[5][1]
    assert re.search(r"net: flops: \+1\.9% in this PR, \+9\.87% since [0-9a-f]{12} \(drift limit 10%\)", passed)
    found = re.search(r"net: flops: \+1\.9% in this PR, \+(\d+\.\d+)% since ([0-9a-f]{12}) \(drift limit 10%\)", failed)
    assert found is not None, failed
    assert found.group(1) == "11.96"  # width round(10000 x 1.019^6) = 11196 over 10000; 10987 the step before
    first = git(tmp_path / "repo", "rev-list", "--max-parents=0", "HEAD").strip()
    assert found.group(2) == first[:12]  # measured since the oldest recorded commit
    assert "regressed" in failed
    report = (tmp_path / "repo" / "r6.md").read_text()
    assert "- **net** flops: +1.9% in this PR, +11.96% since " in report
    chart = report.split("net: FLOPs over the recorded commits</summary>")[1]
    assert chart.count('", "') == 6  # the six recorded commits and this pull request: seven labels
    assert '"this PR"]' in chart and "line [20, 20.38, 20.77, 21.16, 21.56, 21.97, 22.39]" in chart


def test_ratchet_keeps_a_merged_saving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main: 10000 -> 8000 (recorded). A branch made before the saving, checked as the pull
    request's merge would be: 9200, -8% against its merge-base, +15% against the best."""
    for ratchet, expected in (("", 0), ("  ratchet: true\n", 1)):
        repo = new_repo(tmp_path / f"repo{bool(ratchet)}", 10_000, ratchet)
        assert flopguard(repo, capsys, "measure", *RUN, "--json", "base.json")[0] == 0
        assert flopguard(repo, capsys, "record", "--results", "base.json")[0] == 0
        commit(repo, 8_000, ratchet, "a saving")
        assert flopguard(repo, capsys, "record", *RECORD)[0] == 0
        commit(repo, 9_200, ratchet, "the saving given back")
        code, out = flopguard(repo, capsys, "check", *RUN, "--baseline", "base.json")
        assert code == expected, out
        if ratchet:
            best = git(repo, "rev-parse", "HEAD~1").strip()[:12]
            assert f"net: flops: ratchet: judged against 16M at {best}, the best recorded (base 20M)" in out
            assert re.search(r"flops +20M +18\.4M +-1\.6M \(-8%\) +regressed", out), out
        else:
            assert re.search(r"flops +20M +18\.4M +-1\.6M \(-8%\) +improved", out), out


def test_an_unknown_since_is_a_budget_error_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = new_repo(tmp_path / "repo", 10_000, "  drift: {flops: 10%}\n  since: v9\n")
    code, out = flopguard(repo, capsys, "check", *RUN)
    assert code == 0 and "no results history recorded yet (flopguard-history branch): drift and ratchet skipped" in out
    assert flopguard(repo, capsys, "record", *RECORD)[0] == 0
    code, out = flopguard(repo, capsys, "check", *RUN)
    assert code == 2, out
    assert "flopguard.yaml:5 models.net.since: since: 'v9' names no commit of the recorded history [FG149]" in out


def test_record_refuses_a_pull_request_event(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo", 10_000, "")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request_target")
    code, out = flopguard(repo, capsys, "record", *RECORD)
    assert code == 2 and "[FG713]" in out and "not in a pull_request_target event" in out
    assert "flopguard-history" not in git(repo, "branch", "--list")


def test_since_names_a_tag_made_after_the_commit_was_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Merge, CI records, the release is tagged later: `since: v1.0` still finds the commit."""
    repo = new_repo(tmp_path / "repo", 10_000, "  drift: {flops: 10%}\n  since: v1.0\n")
    assert flopguard(repo, capsys, "record", *RECORD)[0] == 0
    commit(repo, 10_500, "  drift: {flops: 10%}\n  since: v1.0\n", "grow")
    assert flopguard(repo, capsys, "record", *RECORD)[0] == 0
    git(repo, "tag", "v1.0", "HEAD")  # the second recorded commit, tagged after it was recorded
    commit(repo, 11_200, "  drift: {flops: 10%}\n  since: v1.0\n", "grow again")
    code, out = flopguard(repo, capsys, "check", *RUN)
    assert code == 0, out  # +6.67% since v1.0 (10500), though +12% since the first recording
    assert re.search(r"net: flops: \+6\.67% since [0-9a-f]{12} \(drift limit 10%\)", out), out
