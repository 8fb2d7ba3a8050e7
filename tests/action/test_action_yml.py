"""action.yml and the workflows in docs/ci/, read as data: the rules that keep pull requests
from reaching provider keys or injecting shell, and that seedflow is never installed by name
from the package index."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from composite import ROOT, action

WORKFLOWS = sorted((ROOT / "docs" / "ci").glob("*.yml"))
DOCS = [ROOT / "action.yml", ROOT / "README.md", ROOT / "docs" / "ci.md", *WORKFLOWS]
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
PINNED_ACTION = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}")
FROM_THE_INDEX = re.compile(r"pip3?\s+install\s+(-\S+\s+)*['\"]?seedflow(?![\w./-])")


def workflow(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))      # YAML 1.1 reads `on:` as True
    return data


def steps(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "runs" in data:
        yield from data["runs"]["steps"]
    for job in data.get("jobs", {}).values():
        yield from job.get("steps", [])


def test_every_input_reaches_a_script_through_env_only() -> None:
    spec = action()
    for step in spec["runs"]["steps"]:
        assert "${{" not in step["run"], step["id"]
        for value in [*step.get("env", {}).values(), step.get("working-directory", "")]:
            found = EXPRESSION.findall(str(value))
            assert len(found) <= 1 and re.fullmatch(
                r"\s*(inputs\.[\w-]+|steps\.\w+\.outputs\.[\w-]+)\s*", found[0] if found else " ")


def test_inputs_and_outputs_are_all_wired() -> None:
    spec = action()
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    for name in spec["inputs"]:
        assert f"inputs.{name} }}}}" in text, f"input {name} is never used"
    ids = {step["id"] for step in spec["runs"]["steps"]}
    for name, output in spec["outputs"].items():
        step = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.([\w-]+) \}\}", output["value"])
        assert step and step[1] in ids, name


def test_only_the_comment_step_sees_the_token() -> None:
    with_token = [step["id"] for step in action()["runs"]["steps"]
                  if "inputs.github-token" in str(step.get("env", {}))]
    assert with_token == ["comment"]


def test_seedflow_comes_from_the_actions_own_folder() -> None:
    [install] = [s for s in action()["runs"]["steps"] if s["id"] == "install"]
    pips = [line.strip() for line in install["run"].splitlines() if "pip install" in line]
    assert pips == ['"$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check '
                    '"$GITHUB_ACTION_PATH"']
    assert 'mktemp -d "${RUNNER_TEMP' in install["run"]     # a fresh venv, outside the checkout


def installs_from_the_index(text: str) -> list[str]:
    """Each `pip install seedflow` in ``text`` that is not a warning against it ("never ...")."""
    return [match[0] for match in FROM_THE_INDEX.finditer(text)
            if "never" not in text[max(0, match.start() - 12):match.start()]]


def test_the_index_rule_sees_installs() -> None:
    assert installs_from_the_index("run: pip install seedflow") == ["pip install seedflow"]
    assert installs_from_the_index("pip install -q 'seedflow'") == ["pip install -q 'seedflow"]
    assert installs_from_the_index("never `pip install seedflow`") == []
    assert installs_from_the_index('pip install "$GITHUB_ACTION_PATH" ./seedflow-src') == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_doc_installs_seedflow_from_the_index(path: Path) -> None:
    assert installs_from_the_index(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_keep_pull_requests_away_from_keys(path: Path) -> None:
    data = workflow(path)
    triggers = data["on"] if isinstance(data["on"], dict) else {t: None for t in data["on"]}
    assert "pull_request_target" not in triggers
    assert data.get("permissions") == {}
    for name, job in data["jobs"].items():
        text = yaml.safe_dump(job)
        runs_on_prs = "pull_request" in triggers and "github.event_name == 'push'" not in \
            str(job.get("if", ""))
        if runs_on_prs:
            assert "secrets." not in text, f"{path.name}: job {name} runs on pull requests"
            assert "contents: write" not in text
    for step in steps(data):
        assert "${{" not in step.get("run", ""), f"{path.name}: an expression inside run:"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_use_the_action_and_pin_it(path: Path) -> None:
    uses = [step["uses"] for step in steps(workflow(path)) if "uses" in step]
    ours = [u for u in uses if u == "./" or "/seedflow@" in u]
    assert ours, f"{path.name} does not use the action"
    assert all(u == "./" or PINNED_ACTION.fullmatch(u) for u in ours)
    for step in steps(workflow(path)):
        assert "pip install" not in step.get("run", "")
