"""No model can take the run down: every fault a model's code can cause, in one shared run.

One budget of faulty and good models is measured once through the worker
pool (module fixture); each row of FAULTS asserts one model's exact status
and message, and the good models of the same run are measured. The CLI tests
show the 20-model run (segfault, hang, exit: 17 measured, no process left)
and SIGTERM/SIGINT in the middle of a run leaving a valid results file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.render.actions import neutralise
from pytest_flopguard.run.gate import Gate
from pytest_flopguard.workers.pool import Pool
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "isolation"
pytestmark = pytest.mark.slow

# model -> (factory, error type, code, exact message); None type: measured.
EXIT = "the model's code ended the process measuring it"
TIMEOUT = "timeout: not done after 2s; its worker process group was killed"
FAULTS: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "segfault": ("faulty:segfault", "Crashed", "FG351", "crashed (SIGSEGV) while measuring it"),
    "abort": ("faulty:abort", "Crashed", "FG351", "crashed (SIGABRT) while measuring it"),
    "sigbus": ("faulty:sigbus", "Crashed", "FG351", "crashed (SIGBUS) while measuring it"),
    "sigkill": ("faulty:sigkill", "OutOfMemory", "FG353", "oom: killed (SIGKILL), likely out of memory"),
    "hang": ("faulty:hang", "Timeout", "FG352", TIMEOUT),
    "busy_loop": ("faulty:busy", "Timeout", "FG352", TIMEOUT),
    "factory_hangs": ("faulty:factory_hangs", "Timeout", "FG352", TIMEOUT),
    "os_exit": ("faulty:os_exit", "Crashed", "FG350", f"crashed (exit 3): {EXIT}"),
    "sys_exit": ("faulty:sys_exit_forward", "Crashed", "FG350", f"crashed (exit 5): {EXIT}"),
    "factory_exits": ("faulty:factory_exits", "Crashed", "FG350", f"crashed (exit 7): {EXIT}"),
    "factory_os_exit": ("faulty:factory_os_exit", "Crashed", "FG350", f"crashed (exit 9): {EXIT}"),
    "factory_segfault": ("faulty:factory_segfault", "Crashed", "FG351", "crashed (SIGSEGV) while measuring it"),
    "inputs_exit": ("faulty:inputs_exit", "Crashed", "FG350", f"crashed (exit 11): {EXIT}"),
    "import_exits": ("import_exits:anything", "Crashed", "FG350", f"crashed (exit 13): {EXIT}"),
    "memory_error": ("faulty:memory_error", "OutOfMemory", "FG353", "oom: MemoryError: could not allocate 1 TB"),
    "factory_memory": ("faulty:factory_memory", "OutOfMemory", "FG353", "oom: MemoryError: MemoryError"),
    "raises": ("faulty:raises", "ValueError", None, "forward failed on purpose"),
    "factory_raises": ("faulty:factory_raises", "KeyError", None, "'no such checkpoint'"),
    "needs_kwarg": (
        "faulty:factory_needs_kwarg",
        "TypeError",
        None,
        "factory_needs_kwarg() missing 1 required positional argument: 'width'",
    ),
    "inputs_raise": ("faulty:good", "OSError", None, "inputs file missing"),
    "prints": ("faulty:prints", "RuntimeError", None, "after printing"),
    "import_raises": ("import_raises:anything", "ImportError", None, "a dependency of the model is not installed"),
    "no_module": (
        "missing_pkg.mod:build",
        "FlopguardError",
        "FG301",
        "cannot import 'missing_pkg.mod' for model 'missing_pkg.mod:build': no module named 'missing_pkg'",
    ),
    "no_attribute": ("faulty:nope", "FlopguardError", "FG302", "'faulty' has no attribute 'nope'"),
    "not_callable": ("faulty:not_callable", "FlopguardError", "FG302", "'faulty:not_callable' is not callable"),
    **{f"good{i}": ("faulty:good", None, None, None) for i in range(4)},
}
SLOW = {"hang", "busy_loop", "factory_hangs"}


def _budget_text() -> str:
    lines = ["version: 1", "defaults:", "  timeout: 60s", "models:"]
    for name, (factory, *_rest) in FAULTS.items():
        lines += [f"  {name}:", f"    model: {factory}"]
        lines.append('    inputs: "faulty:inputs_raise"' if name == "inputs_raise" else "    inputs: [[1, 4]]")
        if name == "inputs_exit":
            lines[-1] = '    inputs: "faulty:inputs_exit"'
            lines[-2] = "    model: faulty:good"
        if name in SLOW:
            lines.append("    timeout: 2s")
    lines += ["  bad_entry:", "    model: faulty:good", "    inputs: [[1, 4]]", "    limits: {flopz: 1G}"]
    return "\n".join(lines) + "\n"


def make_repo(tmp_path: Path, budget: str) -> Path:
    for name in ("faulty.py", "import_exits.py", "import_raises.py"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "flopguard.yaml").write_text(budget)
    return tmp_path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    root = make_repo(tmp_path_factory.mktemp("faulty"), _budget_text())
    os.environ["FAULTY_CHILD_PID_FILE"] = str(root / "child.pid")
    gate = Gate(load_budget(root / "flopguard.yaml"), pool=Pool())
    try:
        gate.measure_all()
        yield gate
    finally:
        gate.pool.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_has_its_status_and_message(run: Gate, name: str) -> None:
    _factory, kind, code, message = FAULTS[name]
    result = run.measured[name]
    if kind is None:
        assert result.error is None and result.metrics["macs"] == 8
        return
    assert result.error is not None and not result.metrics
    assert (result.error.type, result.error.code, result.error.message) == (kind, code, message)


def test_the_good_models_of_the_faulty_run_are_measured(run: Gate) -> None:
    comparison = run.comparison()
    verdicts = {m.name: m.verdict.value for m in comparison.models}
    assert [n for n, v in verdicts.items() if v != "error"] == [f"good{i}" for i in range(4)]
    assert comparison.exit_code == 2  # the bad entry is a config error; the faults are errors


def test_a_bad_budget_entry_is_reported_beside_the_faults(run: Gate) -> None:
    error = run.measured["bad_entry"].error
    assert error is not None and error.code == "FG107" and error.message == "unknown key 'flopz'; did you mean 'flops'?"


def test_crash_and_hang_name_the_users_line_not_ours(run: Gate) -> None:
    segfault, hang = run.measured["segfault"].error, run.measured["hang"].error
    assert segfault is not None and hang is not None
    assert segfault.where is not None and segfault.where.startswith("faulty.py:")
    assert segfault.traceback is not None and "pytest_flopguard" not in segfault.traceback
    assert hang.where is not None and hang.where.startswith("faulty.py:")  # where it hung
    assert "Fatal Python error" not in run.measured["segfault"].output


def test_an_exception_keeps_only_the_users_frames(run: Gate) -> None:
    error = run.measured["raises"].error
    assert error is not None and error.traceback is not None
    assert error.traceback.splitlines()[-2:] == [
        'File "faulty.py", line 60, in _raise_value',
        '  raise ValueError("forward failed on purpose")',
    ]
    assert "site-packages" not in error.traceback and "pytest_flopguard" not in error.traceback


def test_printed_output_is_captured_at_the_fd_and_neutralised(run: Gate) -> None:
    output = run.measured["prints"].output
    for line in ("::error file=x.py::forged annotation", "::add-mask::secret", "##[error]legacy forged annotation"):
        assert line in output
    from pytest_flopguard.render.terminal import render_table

    shown = neutralise("\n".join(render_table(run.comparison())))
    assert not [line for line in shown.splitlines() if line.lstrip().startswith(("::", "##["))]
    assert "| ::add-mask::secret" in shown  # shown to the user under the failing model


def test_a_hung_models_subprocesses_die_with_its_group(run: Gate, tmp_path: Path) -> None:
    # 10 s: on a loaded runner (the suite on two workers) 2 s could end before the model
    # reached its forward and started the child this test is about.
    root = make_repo(
        tmp_path,
        "version: 1\nmodels:\n  h:\n    model: faulty:hang_with_child\n    inputs: [[1, 4]]\n    timeout: 10s\n",
    )
    os.environ["FAULTY_CHILD_PID_FILE"] = str(root / "child.pid")
    with Pool() as pool:
        result = Gate(load_budget(root / "flopguard.yaml"), pool=pool).measure("h")
    assert result.error is not None and result.error.code == "FG352"
    child = int((root / "child.pid").read_text())
    assert not _alive(child)


# --- the CLI: 20 models, signals, no processes left ---------------------------------------


def _twenty() -> str:
    lines = ["version: 1", "defaults:", "  timeout: 60s", "models:"]
    for i in range(17):
        lines += [
            f"  good{i:02}:",
            "    model: faulty:good",
            f"    kwargs: {{width: {i + 1}}}",
            f"    inputs: [[1, {i + 1}]]",
        ]
    lines += ["  segfault:", "    model: faulty:segfault", "    inputs: [[1, 4]]"]
    lines += ["  hang:", "    model: faulty:hang", "    inputs: [[1, 4]]", "    timeout: 3s"]
    lines += ["  exits:", "    model: faulty:os_exit", "    inputs: [[1, 4]]"]
    return "\n".join(lines) + "\n"


def _cli(root: Path, *args: str, mark: str) -> subprocess.Popen[str]:
    """The command as a terminal starts it. A suite run as a background job (`cmd &` in a
    script) ignores SIGINT, and Python keeps an ignored SIGINT ignored: reset it."""
    env = {**os.environ, "CI": "true", "FLOPGUARD_TEST_MARK": mark}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_flopguard.cli", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_twenty_models_one_segfaults_one_hangs_one_exits(tmp_path: Path) -> None:
    root = make_repo(tmp_path, _twenty())
    mark = uuid.uuid4().hex
    proc = _cli(root, "measure", "--json", "out.json", mark=mark)
    out, err = proc.communicate(timeout=240)  # a guard against a hung run, not a speed bound
    assert proc.returncode == 1, err
    models = json.loads((root / "out.json").read_text())["models"]
    measured = [n for n, m in models.items() if m["error"] is None]
    assert len(measured) == 17
    statuses = {n: m["error"]["message"].split(":")[0] for n, m in models.items() if m["error"]}
    assert statuses == {
        "segfault": "crashed (SIGSEGV) while measuring it",
        "hang": "timeout",
        "exits": "crashed (exit 3)",
    }
    # The hang (it asks for 300 s) was cut at its 3 s `timeout:`, in its worker, and the run went on.
    assert models["hang"]["error"]["message"].startswith("timeout: not done after 3s;")
    assert "hang: Timeout at faulty.py:" in out
    assert _marked(mark) == []


def test_sigterm_mid_run_leaves_valid_results_of_what_was_measured(tmp_path: Path) -> None:
    _interrupted(tmp_path, signal.SIGTERM, 143)


def test_sigint_mid_run_leaves_valid_results_of_what_was_measured(tmp_path: Path) -> None:
    _interrupted(tmp_path, signal.SIGINT, 130)


def _interrupted(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    text = "version: 1\nmodels:\n" + "".join(
        f"  m{i}:\n    model: faulty:{'hang' if i == 3 else 'good'}\n    inputs: [[1, 4]]\n" for i in range(6)
    )
    root = make_repo(tmp_path, text)
    mark = uuid.uuid4().hex
    proc = _cli(root, "measure", "--json", "out.json", mark=mark)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # wait until the first three are written and m3 hangs
        data = _read_json(root / "out.json")
        if data is not None and len(data["models"]) == 3:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    data = json.loads((root / "out.json").read_text())
    assert sorted(data["models"]) == ["m0", "m1", "m2"]
    assert data["budget_models"] == [f"m{i}" for i in range(6)]  # the rest: not run, not removed
    assert "wrote the 3 models measured so far to out.json" in err
    assert "Traceback" not in err
    assert _marked(mark) == []


@pytest.mark.parametrize(
    ("hang", "extra"),
    [("hang", []), ("hang_swallowing", ["--flopguard-in-process"])],
    ids=["pool", "in-process, model catches Exception"],
)
def test_sigterm_ends_a_pytest_session_with_reports_of_what_was_measured(
    tmp_path: Path, hang: str, extra: list[str]
) -> None:
    """A cancelled CI job: pytest's session still finishes, its JSON and Markdown hold m0-m2."""
    text = "version: 1\nmodels:\n" + "".join(
        f"  m{i}:\n    model: faulty:{hang if i == 3 else 'good'}\n    inputs: [[1, 4]]\n" for i in range(5)
    )
    root = make_repo(tmp_path, text)
    mark = uuid.uuid4().hex
    args = [
        "--flopguard",
        "-v",
        "-p",
        "no:cacheprovider",
        "--flopguard-json",
        "out.json",
        "--flopguard-markdown",
        "out.md",
        *extra,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=root,
        env={**os.environ, "CI": "true", "FLOPGUARD_TEST_MARK": mark, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = ""
    while "flopguard.yaml::m2 PASSED" not in seen:  # m3 hangs next
        line = proc.stdout.readline()
        assert line, seen
        seen += line
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, seen + out
    assert "terminated (SIGTERM)" in out
    data = json.loads((root / "out.json").read_text())
    assert sorted(data["models"]) == ["m0", "m1", "m2"]
    assert "m2" in (root / "out.md").read_text()
    assert _marked(mark) == []


def test_pytest_timeout_total_bounds_the_session(tmp_path: Path) -> None:
    text = "version: 1\nmodels:\n  m0:\n    model: faulty:good\n    inputs: [[1, 4]]\n"
    text += "  m1:\n    model: faulty:hang\n    inputs: [[1, 4]]\n"
    root = make_repo(tmp_path, text)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--flopguard", "-p", "no:cacheprovider", "--flopguard-timeout-total", "20s"],
        cwd=root,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 1, result.stdout
    assert "the whole run's bound of 20s was reached while measuring it" in result.stdout, result.stdout
    assert "--flopguard-timeout-total" in result.stdout  # the fix names the option to raise
    bad = subprocess.run(
        [sys.executable, "-m", "pytest", "--flopguard", "-p", "no:cacheprovider", "--flopguard-timeout-total", "soon"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert bad.returncode == 4 and "--flopguard-timeout-total: 'soon'" in bad.stderr, bad.stderr


def _read_json(path: Path) -> dict | None:  # type: ignore[type-arg]
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _marked(mark: str) -> list[int]:
    """Processes still alive whose environment carries `mark` (a run's workers inherit it)."""
    time.sleep(0.5)  # a killed group is reaped by the kernel, not at once
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes() and _alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
