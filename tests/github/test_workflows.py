"""action.yml and example_repo's workflows: linted by others' tools, and run end to end.

actionlint, zizmor (offline) and check-jsonschema's bundled GitHub schemas
catch what we would miss; the workflows are then executed step by step
(tests/helpers/gha.py) against real git history and the loopback GitHub API: the
fork-safe pair (measure on pull_request, comment from workflow_run using the
results data only) and the sharded matrix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.github.outputs import write_github_output
from pytest_flopguard.render.markdown import MARKER
from pytest_flopguard.results import ModelResult, Results, write_results
from pytest_flopguard.run.shard import Shard, parse_shard, shard_names
from tests.conftest import REPO, run_cli
from tests.helpers.fake_github import PR
from tests.helpers.gha import (
    GitHubWithPulls,
    Job,
    StepFailed,
    checkout_pull_request,
    load,
    parse_output,
    pr_repository,
    run_composite,
    runner_env,
)

pytestmark = pytest.mark.slow

WORKFLOWS = sorted((REPO / "example_repo" / ".github" / "workflows").glob("*.yml"))
ACTION = REPO / "action.yml"
BIN = Path(sys.executable).parent
TOKEN = "s3cret-token"
SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")


def tool(name: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]'")
    return path


def test_the_example_has_the_three_uses() -> None:
    assert [p.name for p in WORKFLOWS] == [
        "flopguard-comment.yml",
        "flopguard-measure.yml",
        "flopguard-sharded.yml",
        "flopguard.yml",
    ]


# --- Must show 1: the tools of others ------------------------------------------------------


def test_actionlint_passes_and_checks_the_inputs_against_action_yml(tmp_path: Path) -> None:
    """The workflows as they are, and again with `uses: ./` so that actionlint reads our action.yml."""
    actionlint = tool("actionlint")
    shutil.copy(ACTION, tmp_path / "action.yml")
    local = tmp_path / ".github" / "workflows"
    local.mkdir(parents=True)
    for workflow in WORKFLOWS:
        text = re.sub(r"your-org/pytest-flopguard@[0-9a-f]{40}", "./", workflow.read_text())
        (local / workflow.name).write_text(text)
    for cwd, files in ((REPO, [str(p) for p in WORKFLOWS]), (tmp_path, sorted(str(p) for p in local.iterdir()))):
        done = subprocess.run([actionlint, "-no-color", *files], cwd=cwd, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def zizmor(*args: str) -> list[dict[str, Any]]:
    command = [tool("zizmor"), "--offline", "--no-config", "--strict-collection", "--format", "json", *args]
    done = subprocess.run(
        [*command, str(ACTION), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr  # 1x: findings; anything else: zizmor failed
    return json.loads(done.stdout or "[]")  # type: ignore[no-any-return]


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    findings = zizmor("--min-severity", "medium")
    assert findings == [], json.dumps(findings, indent=1)[:4000]


def test_zizmors_only_ignored_finding_is_the_workflow_run_trigger() -> None:
    """The one inline ignore hides exactly the trigger the fork-safe pattern needs, nothing else."""
    findings = zizmor("--min-severity", "medium", "--no-ignores")
    names = [p.name for p in (ACTION, *WORKFLOWS)]
    found = {(f["ident"], next(n for n in names if n in json.dumps(f["locations"][0]))) for f in findings}
    assert found == {("dangerous-triggers", "flopguard-comment.yml")}, json.dumps(findings, indent=1)[:4000]


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-actions", [ACTION]),
        ("vendor.github-workflows", WORKFLOWS),
        ("custom.github-workflows-require-timeout", WORKFLOWS),
    ],
)
def test_check_jsonschema_with_bundled_schemas(schema: str, files: list[Path]) -> None:
    command = [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --- what the tools do not know -----------------------------------------------------------


def all_steps(workflow: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_pinned_and_no_expressions_in_run(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "no default permissions"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: permissions must be set per job"
        assert not any(v == "write" for k, v in job["permissions"].items() if k != "pull-requests"), name
    for step in all_steps(workflow):
        assert "${{" not in step.get("run", ""), step
        if "uses" in step:
            assert SHA.match(step["uses"]), f"pin {step['uses']} to a full commit SHA"
            assert "# v" in _line_of(path, step["uses"]), f"say which release {step['uses']} is"
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
            assert step["with"]["fetch-depth"] == 0, "the base diff needs the history"
    assert "secrets." not in path.read_text()


def _line_of(path: Path, text: str) -> str:
    return next(line for line in path.read_text().splitlines() if text in line)


def test_the_measuring_half_cannot_write_and_the_commenting_half_runs_no_pr_code() -> None:
    measure = load(REPO / "example_repo/.github/workflows/flopguard-measure.yml")
    comment = load(REPO / "example_repo/.github/workflows/flopguard-comment.yml")
    assert list(measure["on"]) == ["pull_request"]
    assert measure["jobs"]["measure"]["permissions"] == {"contents": "read"}
    assert list(comment["on"]) == ["workflow_run"]
    assert comment["on"]["workflow_run"]["workflows"] == [measure["name"]]
    assert comment["jobs"]["comment"]["permissions"] == {"actions": "read", "pull-requests": "write"}
    steps = all_steps(comment)
    assert not any(s.get("uses", "").startswith("actions/checkout@") for s in steps), "never check out PR code"
    post = next(s for s in steps if s.get("name") == "Post the comment")
    assert post["env"]["PR_NUMBER"] == "${{ github.event.workflow_run.pull_requests[0].number }}"
    assert post["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert post["env"]["RUN_ID"] == "${{ github.event.workflow_run.id }}"
    # The job with the write token installs pinned packages only, and no dependencies they would pull.
    install = next(s for s in steps if s.get("name") == "Install pytest-flopguard")
    for line in install["run"].splitlines():
        assert "--no-deps" in line, line
        for requirement in re.findall(r'"([^"$]+)"', line):
            assert "==" in requirement, f"pin {requirement} to a version"
    assert re.search(r"@[0-9a-f]{40}$", install["env"]["FLOPGUARD"])


# --- the fork-safe pair, run end to end -----------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pr_repository(tmp_path_factory.mktemp("workflows") / "models")


@pytest.fixture
def github(httpserver: HTTPServer) -> GitHubWithPulls:
    return GitHubWithPulls(httpserver)


class Artifacts:
    """upload-artifact and download-artifact of one workflow run, on local folders."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def upload(self, step: Mapping[str, Any], given: dict[str, str], job: Job) -> dict[str, str]:
        source = Path(given["path"])
        files = [p for p in source.iterdir()] if source.is_dir() else []
        if not files and given.get("if-no-files-found") == "error":
            raise StepFailed(1)
        shutil.copytree(source, self.store / given["name"], dirs_exist_ok=given.get("overwrite") == "true")
        return {}

    def download(self, step: Mapping[str, Any], given: dict[str, str], job: Job) -> dict[str, str]:
        target = Path(given["path"])
        names = [given["name"]] if "name" in given else sorted(p.name for p in self.store.glob(given["pattern"]))
        for name in names:
            shutil.copytree(self.store / name, target if "name" in given else target / name, symlinks=True)
        return {"download-path": str(target)}


def no_op(step: Mapping[str, Any], given: dict[str, str], job: Job) -> dict[str, str]:
    return {}


def our_action(step: Mapping[str, Any], given: dict[str, str], job: Job) -> dict[str, str]:
    """`uses: your-org/pytest-flopguard@SHA` is this repository's action.yml."""
    code, outputs = run_composite(load(ACTION), given, job, REPO)
    if code:
        raise StepFailed(code, outputs)
    return outputs


def run_job(
    workflow: Path,
    job_name: str,
    workdir: Path,
    tmp: Path,
    api_url: str,
    event_name: str,
    event: dict[str, Any],
    uses: Mapping[str, Callable[..., dict[str, str]]],
    matrix: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, Job]:
    tmp.mkdir(parents=True, exist_ok=True)
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event))
    env = {**runner_env(tmp, api_url, event_name, event_path), **(extra_env or {})}
    context = {
        "github": {"event_name": event_name, "event": event, "token": TOKEN, "workspace": str(workdir)},
        "runner": {"temp": env["RUNNER_TEMP"], "os": "Linux"},
        "matrix": matrix or {},
        "env": {},
    }
    (tmp / "scratch").mkdir(exist_ok=True)
    job = Job(context=context, env=env, workdir=workdir, scratch=tmp / "scratch", uses=uses)
    spec = load(workflow)["jobs"][job_name]
    if "if" in spec and not job_condition(spec["if"], job):
        return -1, job
    return job.run(list(spec["steps"])), job


def job_condition(condition: str, job: Job) -> bool:
    from tests.helpers.gha import should_run

    return should_run({"if": condition}, job.context, "success")


def no_torch(tmp: Path) -> dict[str, str]:
    """A PYTHONPATH on which `import torch` fails: the commenting job must not need it."""
    blocker = tmp / "no-torch"
    (blocker / "torch").mkdir(parents=True, exist_ok=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('the comment job must not import torch')\n")
    return {"PYTHONPATH": str(blocker)}


# Nothing listens there: the measuring job must not call the API (it has nothing to say).
NO_API = "http://127.0.0.1:9"


def measure_pull_request(repo: Path, tmp: Path, branch: str) -> tuple[Artifacts, str]:
    event = checkout_pull_request(repo, branch)
    artifacts = Artifacts(tmp / "artifacts")
    uses = {
        "actions/checkout": no_op,
        "actions/setup-python": no_op,
        "actions/cache": no_op,
        "your-org/pytest-flopguard": our_action,
        "actions/upload-artifact": artifacts.upload,
    }
    workflow = REPO / "example_repo/.github/workflows/flopguard-measure.yml"
    code, job = run_job(workflow, "measure", repo, tmp / "measure", NO_API, "pull_request", event, uses)
    assert code == (1 if branch == "widen" else 0), job.log()
    return artifacts, event["pull_request"]["head"]["sha"]


@pytest.fixture(scope="module")
def widened(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Artifacts, str]:
    """The measuring half run once on the pull request that widens the classifier: its artifact and head."""
    return measure_pull_request(repo, tmp_path_factory.mktemp("measure"), "widen")


def comment_from_workflow_run(
    tmp: Path, github: GitHubWithPulls, artifacts: Artifacts, head_sha: str, pull_requests: list[dict[str, Any]]
) -> tuple[int, Job]:
    run = {
        "id": 4242,
        "event": "pull_request",
        "conclusion": "failure",
        "head_sha": head_sha,
        "head_branch": "widen",
        "head_repository": {"full_name": "fork/models"},
        "pull_requests": pull_requests,
    }
    workspace = tmp / "workspace"  # nothing checked out
    workspace.mkdir(parents=True)

    def download(step: Mapping[str, Any], given: dict[str, str], job: Job) -> dict[str, str]:
        assert (given["run-id"], given["github-token"]) == ("4242", TOKEN)
        return artifacts.download(step, given, job)

    uses = {"actions/setup-python": no_op, "actions/download-artifact": download}
    workflow = REPO / "example_repo/.github/workflows/flopguard-comment.yml"
    event = {"workflow_run": run}
    return run_job(
        workflow, "comment", workspace, tmp, github.url, "workflow_run", event, uses, extra_env=no_torch(tmp)
    )


def test_fork_safe_pair_same_repository_pull_request(
    widened: tuple[Artifacts, str], tmp_path: Path, github: GitHubWithPulls
) -> None:
    artifacts, head = widened
    assert sorted(p.name for p in (artifacts.store / "flopguard-results").iterdir()) == ["base.json", "head.json"]
    github.pulls = [{"number": PR, "head": {"sha": head}}]
    code, job = comment_from_workflow_run(tmp_path / "comment", github, artifacts, head, [{"number": PR}])
    assert code == 0, job.log()
    bodies = [c["body"] for c in github.comments]
    assert len(bodies) == 1 and bodies[0].startswith(MARKER)
    assert "🔺 regressed" in bodies[0] and "stage2" in bodies[0]
    assert ("GET", f"/repos/octo/models/pulls/{PR}") in github.log
    # The footer: the run and head commit from the event, and what they mean.
    footer = bodies[0].split("\n---\n")[-1]
    assert footer.startswith("🔏 **Figures from the pull request’s own workflow run [4242]")
    assert "(https://github.com/octo/models/actions/runs/4242)" in footer and f"at commit `{head}`" in footer
    assert "executed the pull request’s code, the base measurement included" in footer


def test_fork_pull_request_is_found_by_its_head_commit(
    widened: tuple[Artifacts, str], tmp_path: Path, github: GitHubWithPulls
) -> None:
    artifacts, head = widened
    github.page_size = 2
    github.pulls = [{"number": n, "head": {"sha": f"{n:040x}"}} for n in range(1, 6)]
    github.pulls.append({"number": PR, "head": {"sha": head}})
    # GitHub leaves workflow_run.pull_requests empty for a fork's pull request.
    code, job = comment_from_workflow_run(tmp_path / "comment", github, artifacts, head, [])
    assert code == 0, job.log()
    assert [c["body"].splitlines()[1] for c in github.comments] == ["## ❌ flopguard FAILED: 1 regressed, 2 ok"]
    assert ("GET", "/repos/octo/models/pulls?state=open&page=3") in github.log  # found on the last page


def test_no_comment_once_the_pull_request_moved_on(
    widened: tuple[Artifacts, str], tmp_path: Path, github: GitHubWithPulls
) -> None:
    artifacts, head = widened
    github.pulls = [{"number": PR, "head": {"sha": "f" * 40}}]  # pushed again since
    code, job = comment_from_workflow_run(tmp_path / "comment", github, artifacts, head, [{"number": PR}])
    assert code == 0, job.log()
    assert github.comments == []
    assert "has moved past" in job.results[-1].stderr


def test_the_footer_names_the_event_s_commit_whatever_the_artifact_claims(
    tmp_path: Path, github: GitHubWithPulls
) -> None:
    artifacts = Artifacts(tmp_path / "artifacts")
    folder = artifacts.store / "flopguard-results"
    folder.mkdir(parents=True)
    for name in ("head.json", "base.json"):
        (folder / name).write_text(json.dumps({**GOOD, "git": {"commit": "b" * 40}}))  # what the fork claims
    head = "a" * 40
    github.pulls = [{"number": PR, "head": {"sha": head}}]
    code, job = comment_from_workflow_run(tmp_path / "comment", github, artifacts, head, [{"number": PR}])
    assert code == 0, job.log()
    (body,) = [c["body"] for c in github.comments]
    assert f"workflow run [4242](https://github.com/octo/models/actions/runs/4242)** at commit `{head}`" in body
    assert "b" * 12 not in body.split("\n---\n")[-1]


def test_run_id_without_head_sha_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("hi\n")
    done = run_cli("comment", "--markdown", "report.md", "--run-id", "4242", cwd=tmp_path)
    assert done.returncode == 2 and "--run-id names the measuring run of --head-sha" in done.stderr
    assert "[FG521]" in done.stderr


# --- a hostile artifact is refused before it is read -------------------------------------------

GOOD = {
    "schema": 1,
    "tool": {"name": "pytest-flopguard", "version": "0.1.0"},
    "convention": {"flops": "x"},
    "models": {"m": {"metrics": {"macs": 1}}},
}


def _plant_symlink(folder: Path) -> None:
    (folder / "head.json").unlink()
    (folder / "head.json").symlink_to("/etc/passwd")


def _plant_extra(folder: Path) -> None:
    (folder / "evil.sh").write_text("curl | sh\n")


def _plant_subfolder_escape(folder: Path) -> None:
    (folder / "..").joinpath("outside.json").write_text("{}")
    (folder / "nested").mkdir()
    (folder / "nested" / "head.json").symlink_to(folder.parent / "outside.json")


def _plant_oversize(folder: Path) -> None:
    (folder / "head.json").write_text(json.dumps({**GOOD, "pad": "x" * 10_000_001}))


def _plant_wrong_schema(folder: Path) -> None:
    (folder / "head.json").write_text(json.dumps({**GOOD, "schema": 99}))


def _plant_not_json(folder: Path) -> None:
    (folder / "head.json").write_text("[" * 100_000)


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        (_plant_symlink, "head.json is a symlink [FG614]"),
        (_plant_extra, "unexpected entries: 'evil.sh' [FG612]"),
        (_plant_subfolder_escape, "unexpected entries: 'nested' [FG612]"),
        (_plant_oversize, "over the cap of 10000000 [FG615]"),
        (_plant_wrong_schema, "head.json has results schema 99"),
        (_plant_not_json, "head.json is not valid JSON (RecursionError) [FG201]"),
    ],
    ids=["symlink", "extra-file", "subfolder", "oversize", "schema", "deep-json"],
)
def test_hostile_artifact_is_refused_and_nothing_is_posted(
    tmp_path: Path, github: GitHubWithPulls, plant: Callable[[Path], None], message: str
) -> None:
    artifacts = Artifacts(tmp_path / "artifacts")
    folder = artifacts.store / "flopguard-results"
    folder.mkdir(parents=True)
    for name in ("head.json", "base.json"):
        (folder / name).write_text(json.dumps(GOOD))
    plant(folder)
    head = "a" * 40
    github.pulls = [{"number": PR, "head": {"sha": head}}]
    code, job = comment_from_workflow_run(tmp_path / "comment", github, artifacts, head, [{"number": PR}])
    assert code == 2, job.log()
    validate = next(r for r in job.results if r.name == "Validate the artifact as data")
    assert message in validate.stderr, validate.stderr
    assert github.log == [] and github.comments == []


# --- a malformed artifact: every field checked against the results schema, the wrong one named ---


def full_results() -> dict[str, Any]:
    """A results file with every kind of record: modules, ops, latency with its spread, a variant, an error."""
    from pytest_flopguard.budget.schema import Variant
    from pytest_flopguard.measure.types import LatencyStats, ModuleStats, OpStats
    from pytest_flopguard.results import ErrorInfo
    from pytest_flopguard.results_json import to_json

    m = ModelResult(
        metrics={"macs": 10, "flops": 20, "params": 3, "memory_access": 40, "latency.cpu": 0.02},
        modules=(ModuleStats("", "Net", 1, 3, 10, 20, 0, 40),),
        ops={"aten.mm": OpStats(1, 10, 0, 40)},
        latency={"cpu": LatencyStats(0.02, 0.019, 0.021, 50, 1, environment={"cpu": "x"})},
        variant=Variant("m", "640", (640, 640)),
    )
    broken = ModelResult(error=ErrorInfo("RuntimeError", "boom"))
    data = to_json(Results(models={"m": m, "broken": broken}, git={"commit": "a" * 40, "dirty": False}))
    return dict(json.loads(json.dumps(data)))  # as the reader gets it: tuples are lists


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the document: `models.m.modules.0.macs` set to `value` (`DEL`: removed)."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DEL:
            del node[last]
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return mutate


DEL = object()
MALFORMED = [
    ("models.m.metrics.flops", "abc", 'models.m.metrics.flops: expected a finite number, got "abc"'),
    ("models", [{"m": {}}], "models: expected an object, got a list of 1"),
    ("models.m", ["metrics"], "models.m: expected an object, got a list of 1"),
    ("models.m.modules", {"": {}}, "models.m.modules: expected a list, got an object"),
    ("models.m.modules.0.macs", "10", 'models.m.modules[0].macs: expected an integer, got "10"'),
    ("models.m.modules.0.path", DEL, "models.m.modules[0].path: missing"),
    ("models.broken.error", "boom", 'models.broken.error: expected an object or null, got "boom"'),
    ("models.broken.error.message", 3, "models.broken.error.message: expected a string, got 3"),
    ("models.m.metrics.latency", {"median_s": 0.02}, "models.m.metrics.latency.median_s: expected an object, got 0.02"),
    (
        "models.m.metrics.latency.cpu.samples",
        "many",
        'models.m.metrics.latency.cpu.samples: expected an integer, got "many"',
    ),
    ("models.m.ops", {"aten.mm": {"calls": 1.5}}, 'models.m.ops["aten.mm"].calls: expected an integer, got 1.5'),
    ("models.m.notes", "hi", 'models.m.notes: expected a list, got "hi"'),
    (
        "models.m.variant.resolution",
        [1, 2, 3],
        "models.m.variant.resolution: expected a list of 2 or null, got a list of 3",
    ),
    ("tool.version", DEL, "tool.version: missing"),
    (
        "models.m.uncounted_ops",
        {"aten.cumsum": "2"},
        'models.m.uncounted_ops["aten.cumsum"]: expected an integer, got "2"',
    ),
    ("git.dirty", "yes", 'git.dirty: expected true or false, got "yes"'),
    ("models.m.tolerance", {"flops": [0]}, "models.m.tolerance.flops: expected a finite number, got a list of 1"),
    ("convention", "2 per MAC", 'convention: expected an object, got "2 per MAC"'),
    ("models.m.limits.latency", 0.03, "models.m.limits.latency: expected an object, got 0.03"),
    ("models.m.modules.0.size", 1, "models.m.modules[0].size: not a field here"),
]


def test_the_full_results_file_is_valid(tmp_path: Path) -> None:
    from pytest_flopguard.results_json import from_json

    assert sorted(from_json(full_results()).models) == ["broken", "m"]


@pytest.mark.parametrize(("path", "value", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_artifact_names_the_field_and_nothing_is_posted(
    tmp_path: Path, github: GitHubWithPulls, path: str, value: Any, message: str
) -> None:
    artifacts = Artifacts(tmp_path / "artifacts")
    folder = artifacts.store / "flopguard-results"
    folder.mkdir(parents=True)
    good = full_results()
    (folder / "base.json").write_text(json.dumps(good))
    _set(path, value)(good)
    (folder / "head.json").write_text(json.dumps(good))
    head = "a" * 40
    github.pulls = [{"number": PR, "head": {"sha": head}}]
    code, job = comment_from_workflow_run(tmp_path / "comment", github, artifacts, head, [{"number": PR}])
    assert code == 2, job.log()
    validate = next(r for r in job.results if r.name == "Validate the artifact as data")
    assert f"head.json is malformed: {message}" in validate.stderr, validate.stderr
    assert "[FG202]" in validate.stderr and "internal error" not in validate.stderr
    assert github.log == [] and github.comments == []


def test_compare_of_a_malformed_file_is_exit_2_not_an_internal_error(tmp_path: Path) -> None:
    good = full_results()
    (tmp_path / "base.json").write_text(json.dumps(good))
    _set("models.m.metrics.latency.cpu", [0.02])(good)
    (tmp_path / "head.json").write_text(json.dumps(good))
    proc = run_cli("compare", "base.json", "head.json", "--markdown", "report.md", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "head.json is malformed: models.m.metrics.latency.cpu: expected an object, got a list of 1" in proc.stderr
    assert "internal error" not in proc.stderr and not (tmp_path / "report.md").exists()


# --- the sharded matrix ---------------------------------------------------------------------


def test_sharded_matrix_merges_into_one_report(repo: Path, tmp_path: Path, github: GitHubWithPulls) -> None:
    event = checkout_pull_request(repo, "widen")
    artifacts = Artifacts(tmp_path / "artifacts")
    workflow = REPO / "example_repo/.github/workflows/flopguard-sharded.yml"
    uses = {
        "actions/checkout": no_op,
        "actions/setup-python": no_op,
        "actions/cache": no_op,
        "your-org/pytest-flopguard": our_action,
        "actions/upload-artifact": artifacts.upload,
        "actions/download-artifact": artifacts.download,
    }
    measured = []
    for shard in load(workflow)["jobs"]["measure"]["strategy"]["matrix"]["shard"]:
        code, job = run_job(
            workflow, "measure", repo, tmp_path / f"shard{shard}", NO_API, "pull_request", event, uses, {"shard": shard}
        )
        assert code == 0, job.log()  # shards do not decide
        head = json.loads((artifacts.store / f"flopguard-shard-{shard}" / "head.json").read_text())
        measured += list(head["models"])
    assert sorted(measured) == ["classifier", "detector", "tiny_gpt"], "each model in exactly one shard"

    workspace = tmp_path / "report-workspace"
    workspace.mkdir()
    code, job = run_job(workflow, "report", workspace, tmp_path / "report", github.url, "pull_request", event, uses)
    assert code == 1, job.log()
    assert "merged 3 results files (3 models)" in job.log()
    bodies = [c["body"] for c in github.comments]
    assert len(bodies) == 1 and "FAILED: 1 regressed, 2 ok" in bodies[0]


# --- the commands behind the workflows: shards, merge, step outputs -------------------------


@pytest.mark.parametrize(("text", "expected"), [("1/3", (1, 3)), (" 3 / 3 ", (3, 3)), ("1/1", (1, 1))])
def test_shard_parses(text: str, expected: tuple[int, int]) -> None:
    shard = parse_shard(text)
    assert (shard.index, shard.count) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "2", "a/b", "-1/3", ""])
def test_shard_refuses(text: str) -> None:
    with pytest.raises(FlopguardError) as caught:
        parse_shard(text)
    assert caught.value.code == "FG601"


def test_shards_partition_the_models_evenly_whatever_their_order() -> None:
    names = [f"model_{i}" for i in range(11)]
    shards = [shard_names(names, Shard(i, 3)) for i in (1, 2, 3)]
    assert sorted(n for shard in shards for n in shard) == sorted(names)
    assert sorted(len(s) for s in shards) == [3, 4, 4]
    assert all(shard == [n for n in names if n in shard] for shard in shards), "budget order kept"
    reordered = [shard_names(list(reversed(names)), Shard(i, 3)) for i in (1, 2, 3)]
    assert [sorted(s) for s in reordered] == [sorted(s) for s in shards]


def results_file(path: Path, models: list[str], commit: str = "a" * 40) -> str:
    results = Results(
        models={m: ModelResult(metrics={"macs": 1}) for m in models},
        budget_models=tuple(models),
        git={"commit": commit},
    )
    write_results(results, path)
    return str(path)


def test_merge_joins_shards_and_names_a_model_found_twice(tmp_path: Path) -> None:
    a = results_file(tmp_path / "a.json", ["resnet", "vit"])
    b = results_file(tmp_path / "b.json", ["bert"])
    out = tmp_path / "all.json"
    done = run_cli("merge", a, b, "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(out.read_text())["models"]) == ["bert", "resnet", "vit"]

    c = results_file(tmp_path / "c.json", ["vit", "bert"])
    clash = run_cli("merge", a, b, c, "--json", str(out), cwd=tmp_path)
    assert clash.returncode == 2
    assert f"model(s) measured in more than one file: 'bert' ({b} and {c}), 'vit' ({a} and {c}) [FG603]" in clash.stderr


def test_merge_refuses_shards_of_different_commits(tmp_path: Path) -> None:
    a = results_file(tmp_path / "a.json", ["resnet"], commit="a" * 40)
    b = results_file(tmp_path / "b.json", ["bert"], commit="b" * 40)
    done = run_cli("merge", a, b, "--json", str(tmp_path / "all.json"), cwd=tmp_path)
    assert done.returncode == 2 and "different commits" in done.stderr and "[FG604]" in done.stderr


def test_github_output_outside_actions_is_a_usage_error_before_measuring(tmp_path: Path) -> None:
    done = run_cli("check", "--github-output", "--budget", "missing.yaml", cwd=tmp_path, env={"GITHUB_OUTPUT": ""})
    assert done.returncode == 2 and "[FG620]" in done.stderr


def test_step_outputs_survive_newlines(tmp_path: Path) -> None:
    path = tmp_path / "out"
    write_github_output({"regressions": "2", "report": "/tmp/odd\nname.md"}, {"GITHUB_OUTPUT": str(path)})
    assert parse_output(path.read_text()) == {"regressions": "2", "report": "/tmp/odd\nname.md"}
