"""Run the steps of a composite action or a workflow job the way the GitHub runner does.

Enough of the runner for our own action and example workflows, no more:
`${{ }}` expressions (contexts, `==`/`!=`, `&&`/`||`/`!`, status functions)
in `if:`, `env:`, `with:` and `working-directory:`; each `run:` step in
`bash --noprofile --norc -eo pipefail` with a fresh `$GITHUB_OUTPUT` whose
`name=value` / `name<<DELIM` lines become `steps.ID.outputs`; a shared
`$GITHUB_STEP_SUMMARY`; steps after a failure skipped unless their `if:`
asks for them. `uses:` steps are handed to stand-ins the test provides.
A `run:` script must never contain `${{ }}`: inputs reach the shell only
through `env:` (the rule the action and the workflows are written to).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import EXAMPLE, edit, git
from tests.helpers.fake_github import PR, FakeGitHub
from tests.helpers.fake_github import REPO as GITHUB_REPO

# --- expressions ----------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+)|(?P<op>==|!=|&&|\|\||!|\(|\)|\[|\]|\.|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse expression at {text[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any], status: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.context = context
        self.status = status  # "success" or "failure" so far

    def parse(self) -> Any:
        value = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"trailing tokens {self.tokens[self.i :]}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._unary()
        while self._peek() == "&&":
            self._take()
            right = self._unary()
            value = right if truthy(value) else value
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._compare()

    def _compare(self) -> Any:
        left = self._primary()
        if self._peek() in ("==", "!="):
            op = self._take()[1]
            right = self._primary()
            equal = _loose(left) == _loose(right)
            return equal if op == "==" else not equal
        return left

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            assert self._take()[1] == ")"
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return int(text)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == "(":
            self._take()
            assert self._take()[1] == ")", "only argument-less functions are supported"
            return self._function(text)
        return self._path(text)

    def _function(self, name: str) -> bool:
        return {
            "success": self.status == "success",
            "failure": self.status == "failure",
            "always": True,
            "cancelled": False,
        }[name]

    def _path(self, root: str) -> Any:
        value: Any = self.context.get(root)
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                key = self._take()[1]
                value = value.get(key) if isinstance(value, Mapping) else None
            else:
                index = int(self._take()[1])
                assert self._take()[1] == "]"
                value = value[index] if isinstance(value, list) and index < len(value) else None
        return value


def truthy(value: Any) -> bool:
    return value not in (False, 0, "", None)


def _loose(value: Any) -> Any:
    """GitHub compares strings case-insensitively, and null equals ''."""
    if value is None:
        return ""
    return value.lower() if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value


def evaluate(expression: str, context: Mapping[str, Any], status: str = "success") -> Any:
    return _Parser(expression, context, status).parse()


def substitute(text: str, context: Mapping[str, Any]) -> str:
    """Every `${{ expr }}` in text replaced by its value, as the runner renders it."""

    def render(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), context)
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", render, text)


def should_run(step: Mapping[str, Any], context: Mapping[str, Any], status: str) -> bool:
    condition = step.get("if")
    if condition is None:
        return status == "success"
    text = str(condition).strip()
    text = text[3:-2] if text.startswith("${{") and text.endswith("}}") else text
    if not re.search(r"\b(success|failure|always|cancelled)\(\)", text):
        text = f"success() && ({text})"  # the implicit status check
    return truthy(evaluate(text, context, status))


# --- steps ----------------------------------------------------------------------------


@dataclass
class StepResult:
    name: str
    ran: bool
    code: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


Uses = Callable[[Mapping[str, Any], dict[str, str], "Job"], dict[str, str]]


@dataclass
class Job:
    """One job (or one composite action's steps): its context, environment and results."""

    context: dict[str, Any]
    env: dict[str, str]  # the runner's environment: GITHUB_*, RUNNER_TEMP, PATH, ...
    workdir: Path
    scratch: Path  # where per-step files go
    uses: Mapping[str, Uses] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    status: str = "success"

    def run(self, steps: list[Mapping[str, Any]]) -> int:
        """Run the steps in order; the exit code of the first failing step, else 0."""
        self.context.setdefault("steps", {})
        first_failure = 0
        for number, step in enumerate(steps):
            name = str(step.get("name") or step.get("id") or step.get("uses") or f"step {number}")
            if not should_run(step, self.context, self.status):
                self.results.append(StepResult(name, ran=False))
                continue
            result = self._uses(step, name) if "uses" in step else self._run(step, name, number)
            self.results.append(result)
            if "id" in step:
                outcome = "success" if result.code == 0 else "failure"
                self.context["steps"][step["id"]] = {"outputs": result.outputs, "outcome": outcome}
            if result.code != 0 and not step.get("continue-on-error"):
                self.status = "failure"
                first_failure = first_failure or result.code
        return first_failure

    def _uses(self, step: Mapping[str, Any], name: str) -> StepResult:
        action = str(step["uses"]).split("@")[0]
        stand_in = self.uses.get(action) or STAND_INS.get(action)
        if stand_in is None:
            raise AssertionError(f"no stand-in for `uses: {step['uses']}`")
        given = {k: substitute(str(v), self.context) for k, v in (step.get("with") or {}).items()}
        try:
            outputs = stand_in(step, given, self)
        except StepFailed as failed:
            return StepResult(name, ran=True, code=failed.code, outputs=failed.outputs)
        return StepResult(name, ran=True, outputs=outputs)

    def _run(self, step: Mapping[str, Any], name: str, number: int) -> StepResult:
        script = str(step["run"])
        assert "${{" not in script, f"step {name!r} puts an expression inside run: (use env:)"
        env = {**self.env, **{k: substitute(str(v), self.context) for k, v in (step.get("env") or {}).items()}}
        output = self.scratch / f"output-{len(self.results)}-{number}"
        output.write_text("")
        env["GITHUB_OUTPUT"] = str(output)
        script_file = self.scratch / f"step-{len(self.results)}-{number}.sh"
        script_file.write_text(script)
        cwd = self.workdir / substitute(str(step.get("working-directory", ".")), self.context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return StepResult(name, True, done.returncode, done.stdout, done.stderr, parse_output(output.read_text()))

    def log(self) -> str:
        return "\n".join(f"--- {r.name} (ran={r.ran}, exit {r.code})\n{r.stdout}{r.stderr}" for r in self.results)


def upload_artifact(step: Mapping[str, Any], given: Mapping[str, str], job: Job) -> dict[str, str]:
    """actions/upload-artifact: the folder kept under the job's scratch/artifacts/NAME, and the
    artifact's URL as the action gives it (`artifact-url`)."""
    target = job.scratch / "artifacts" / given["name"]
    assert not target.exists(), f"two artifacts named {given['name']!r} in one run"
    shutil.copytree(job.workdir / given["path"], target)
    return {"artifact-id": "7", "artifact-url": f"https://github.com/{GITHUB_REPO}/actions/runs/1/artifacts/7"}


def cache_miss(step: Mapping[str, Any], given: Mapping[str, str], job: Job) -> dict[str, str]:
    """actions/cache on a runner that has never saved that key (a test of hits gives its own stand-in)."""
    return {"cache-hit": "false"}


# What every job can use without a test providing it.
STAND_INS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str], Job], dict[str, str]]] = {
    "actions/upload-artifact": upload_artifact,
    "actions/cache": cache_miss,
}


class StepFailed(Exception):
    def __init__(self, code: int, outputs: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.outputs = outputs or {}


def parse_output(text: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIM ... DELIM` blocks, as the runner reads GITHUB_OUTPUT."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            out[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


# --- composite actions and workflows ------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on:` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data  # type: ignore[no-any-return]


def run_composite(
    action: Mapping[str, Any], given: Mapping[str, str], job: Job, action_path: Path
) -> tuple[int, dict[str, str]]:
    """Run a composite action's steps inside `job`, as `uses:` does; its exit code and outputs."""
    outer_steps = job.context.get("steps", {})
    github = {**job.context["github"], "action_path": str(action_path)}
    inputs = {}
    for name, spec in (action.get("inputs") or {}).items():
        default = substitute(str(spec.get("default", "")), {**job.context, "github": github})
        inputs[name] = given.get(name, default)
    unknown = set(given) - set(inputs)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    inner = Job(
        context={**job.context, "github": github, "inputs": inputs, "steps": {}},
        env={**job.env, "GITHUB_ACTION_PATH": str(action_path)},
        workdir=job.workdir,
        scratch=job.scratch,
        uses=job.uses,
    )
    code = inner.run(list(action["runs"]["steps"]))
    job.results.extend(inner.results)
    outputs = {k: substitute(str(v["value"]), inner.context) for k, v in (action.get("outputs") or {}).items()}
    job.context["steps"] = outer_steps
    return code, outputs


# --- the API the action and the workflows call -----------------------------------------


class GitHubWithPulls(FakeGitHub):
    """The loopback API of tests/helpers/fake_github.py, plus pull requests and a read-only mode.

    `pulls`: the open pull requests (`{"number", "head": {"sha"}}`), listed
    and fetched as GitHub does; `statuses`: the commit statuses created
    (`POST /repos/R/statuses/SHA`, with their `sha`); `read_only`: writes
    answer 403 as they do for a fork's pull_request token.
    """

    def __init__(self, server: HTTPServer) -> None:
        self.pulls: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.read_only = False
        super().__init__(server)

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if self.read_only and method in ("POST", "PATCH", "DELETE"):
            return self._json(403, {"message": "Resource not accessible by integration"})
        if path == f"/repos/{GITHUB_REPO}/pulls" and method == "GET":
            page = int(request.args.get("page", 1))
            start = (page - 1) * self.page_size
            headers = {}
            if start + self.page_size < len(self.pulls):
                headers["Link"] = f'<{self.server.url_for(path)}?state=open&page={page + 1}>; rel="next"'
            return self._json(200, self.pulls[start : start + self.page_size], headers)
        status = re.fullmatch(rf"/repos/{GITHUB_REPO}/statuses/([0-9a-f]{{40}})", path)
        if status and method == "POST":
            body = json.loads(request.data)
            if body.get("state") not in ("success", "failure", "error", "pending"):
                return self._json(422, {"message": "Validation Failed"})
            self.statuses.append({"sha": status.group(1), **body})
            return self._json(201, {"id": len(self.statuses), **body})
        match = re.fullmatch(rf"/repos/{GITHUB_REPO}/pulls/(\d+)", path)
        if match and method == "GET":
            found = next((p for p in self.pulls if p["number"] == int(match.group(1))), None)
            return self._json(200, found) if found else self._json(404, {"message": "Not Found"})
        return super()._route(request)


# --- a repository with pull requests, and the runner's environment ----------------------

WIDEN = (
    ("self.stage2 = BasicBlock(width, 2 * width, 2)", "self.stage2 = BasicBlock(width, 3 * width, 2)"),
    ("self.stage3 = BasicBlock(2 * width, 4 * width, 2)", "self.stage3 = BasicBlock(3 * width, 4 * width, 2)"),
)


def pr_repository(repo: Path) -> Path:
    """example_repo on `main`; branch `widen` grows the classifier, branch `docs` touches no model."""
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".gitignore").write_text("__pycache__/\n")
    git(repo, "init", "-q")
    git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "models and budget")
    git(repo, "checkout", "-q", "-b", "widen")
    edit(repo / "models" / "vision.py", *WIDEN)
    git(repo, "commit", "-q", "-am", "widen stage2")
    git(repo, "checkout", "-q", "-b", "docs", "main")
    (repo / "NOTES.md").write_text("How we train.\n")
    git(repo, "add", "NOTES.md")
    git(repo, "commit", "-q", "-m", "notes")
    return repo


def checkout_pull_request(repo: Path, branch: str) -> dict[str, Any]:
    """What actions/checkout leaves for a pull_request event: the merge commit, detached; and the event."""
    git(repo, "checkout", "-q", "--detach", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", f"Merge {branch} into main", branch)
    head = git(repo, "rev-parse", branch)
    base = git(repo, "rev-parse", "main")
    return {"number": PR, "pull_request": {"number": PR, "base": {"sha": base, "ref": "main"}, "head": {"sha": head}}}


def python_shim(folder: Path) -> Path:
    """`python` that records `-m pip ...` (and its PIP_CACHE_DIR) in $PIP_LOG instead of running it,
    and is the real Python otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "python"
    shim.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then\n'
        '  if [ -n "${PIP_CACHE_DIR:-}" ]; then echo "PIP_CACHE_DIR=$PIP_CACHE_DIR" >> "$PIP_LOG"; fi\n'
        '  printf "%s\\n" "${@:3}" >> "$PIP_LOG"; exit 0\n'
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    shim.chmod(0o755)
    return folder


def runner_env(tmp: Path, api_url: str, event_name: str, event_path: Path) -> dict[str, str]:
    """The environment the runner gives every step (none of the test's own GitHub variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "PYTHON", "PIP_"))}
    shims = python_shim(tmp / "shims")
    (tmp / "runner-temp").mkdir(exist_ok=True)
    return {
        **env,
        "PATH": os.pathsep.join([str(shims), str(Path(sys.executable).parent), env.get("PATH", "")]),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_BASE_REF": "main" if event_name in ("pull_request", "pull_request_target") else "",
        "GITHUB_REPOSITORY": GITHUB_REPO,
        "GITHUB_API_URL": api_url,
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
        "RUNNER_TEMP": str(tmp / "runner-temp"),
        "PIP_LOG": str(tmp / "pip.log"),
    }
