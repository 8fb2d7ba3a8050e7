"""The composite action itself, run locally step by step (composite.py) as GitHub's runner
would: seedflow installed from the action's folder into a fresh virtualenv, pipelines on the
embedded simulator, GitHub's files (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH) and its
REST API (a loopback server, githubapi.py) faked, and nothing else.

Each run installs seedflow with pip, as the action does on GitHub (a few seconds each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from composite import ActionRun, base_env, run_action
from githubapi import FakeGitHub
from reviewkit import pipeline_text

pytestmark = pytest.mark.slow      # a real pip install per run of the action

PR = "7"
SIM = {"SEEDFLOW_SIM_LATENCY": "0.05", "SEEDFLOW_POLL_INTERVAL": "0.05", "NO_COLOR": "1"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository with one simulator pipeline (4 combinations)."""
    root = tmp_path / "repo"
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "p.yaml").write_text(pipeline_text(), encoding="utf-8")
    return root


def act(project: Path, tmp_path: Path, github: FakeGitHub | None = None,
        **inputs: str) -> ActionRun:
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    env = {**SIM, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    if github is not None:
        env |= {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": github.repo}
    given = {"python": sys.executable, "github-token": github.token if github else "",
             "pr-number": PR if github else "", **inputs}
    return run_action(given, workspace=project, runner_temp=temp, env=base_env(env))


def test_a_pull_request_plan_sets_has_work_and_keeps_one_comment(
        project: Path, tmp_path: Path, github: FakeGitHub) -> None:
    first = act(project, tmp_path, github)
    assert first.ok, first.log
    assert {k: first.outputs[k] for k in ("has-work", "creates", "images", "failed")} == {
        "has-work": "true", "creates": "4", "images": "4", "failed": "0"}
    plan = Path(first.outputs["plan-file"]).read_text(encoding="utf-8")
    assert plan.startswith("### seedflow plan: `pipelines/p.yaml`")
    assert (tmp_path / "runner-temp" / "step-summary.md").read_text(encoding="utf-8") == plan
    [comment] = github.on(7)
    assert comment.body == f"<!-- seedflow-plan: default -->\n{plan}"
    assert first.outputs["comment-url"].endswith(f"#issuecomment-{comment.id}")
    assert github.token not in first.log
    assert not (project / "pipelines" / "p.lock").exists()          # plan is read-only

    seedflow = first.outputs["seedflow"]
    venv = Path(first.outputs["plan-file"]).parent / "venv"
    where = subprocess.run([venv / "bin" / "python", "-c", "import seedflow; print(seedflow."
                            "__file__)"], capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(venv)                # installed, not the checkout
    assert Path(seedflow).resolve().parent.parent == venv          # its own virtualenv
    path_file = (tmp_path / "runner-temp" / "path").read_text(encoding="utf-8").split()
    assert path_file == [str(Path(seedflow).parent)]               # `seedflow` alone on PATH
    assert sorted(p.name for p in Path(seedflow).parent.iterdir()) == ["seedflow"]

    applied = subprocess.run([seedflow, "apply", "pipelines/p.yaml", "--yes"], cwd=project,
                             env=base_env(SIM), capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stderr
    second = act(project, tmp_path, github)
    assert second.ok, second.log
    assert second.outputs["has-work"] == "false"
    [comment] = github.on(7)                                        # edited, not a second one
    assert "No changes" in comment.body
    assert [m for m, _ in github.calls()] == ["GET", "POST", "GET", "PATCH"]


def test_apply_generates_what_the_plan_showed(project: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = act(project, tmp_path, command="apply", store=str(store),
              targets="shots[thing=cup*", **{"apply-args": "--concurrency 2"})
    assert run.ok, run.log
    assert run.outputs["has-work"] == "true" and run.outputs["creates"] == "2"
    assert sorted(p.name for p in (project / "assets" / "shots").iterdir()) == [
        "cup-1.png", "cup-2.png"]                                   # only the targets
    assert (project / "pipelines" / "p.lock").exists()
    assert len([p for p in store.rglob("*") if p.is_file()]) == 2   # uploaded to the store
    assert run.outputs["comment-url"] == ""                         # no pull request
    assert run.step("comment").code == 0


def test_a_failed_plan_replaces_the_comment_and_fails_the_action(
        project: Path, tmp_path: Path, github: FakeGitHub) -> None:
    github.add(7, "<!-- seedflow-plan: default -->\nold plan: 4 to create")
    (project / "pipelines" / "p.yaml").write_text(
        pipeline_text().replace('output: "shots/', 'output: "../../shots/'), encoding="utf-8")
    run = act(project, tmp_path, github, command="apply")
    assert not run.ok
    assert (run.step("plan").code, run.step("comment").code, run.step("apply").code) == (
        1, 0, None)                                                 # apply never started
    assert run.outputs["failed"] == "1"
    [comment] = github.on(7)
    assert "**The plan failed**" in comment.body and "old plan" not in comment.body
    assert "error: pipelines/p.yaml: pipelines/p.yaml:" in run.step("plan").stderr
    assert not (project / "pipelines" / "p.lock").exists()


def test_validate_and_bad_inputs_fail_with_one_clear_message(project: Path,
                                                             tmp_path: Path) -> None:
    run = act(project, tmp_path, command="destroy")
    assert not run.ok
    assert run.step("install").stdout == ("::error title=seedflow::command must be install, "
                                          "validate, plan or apply, not 'destroy'\n")
    assert [s.code for s in run.steps[1:]] == [None, 0, None]      # the comment step: no-op

    (project / "pipelines" / "broken.yaml").write_text("version: 1\nassets: {a: {prompt: 1}}\n")
    run = act(project, tmp_path, command="validate", pipelines="pipelines/*.yaml")
    assert not run.ok and run.step("plan").code == 1
    assert "pipelines/p.yaml: valid (4 combinations)" in run.step("plan").stdout
    assert "pipelines/broken.yaml:2:" in run.step("plan").stderr
    assert "Traceback" not in run.log

    run = act(project, tmp_path, pipelines="nothing/*.yaml")
    assert not run.ok
    assert "::error title=seedflow::no pipeline file matches the pipelines input" in \
        run.step("plan").stdout
