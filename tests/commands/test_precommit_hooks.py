"""The pre-commit hooks this repository ships run seedflow's own commands on the files they
match: valid ones pass, broken ones fail (exit 1) with the file named."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from corekit import Run

ROOT = Path(__file__).resolve().parents[2]
HOOKS = {hook["id"]: hook for hook in
         yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}


def run_hook(run: Run, hook_id: str, *files: str) -> int:
    hook = HOOKS[hook_id]
    for name in files:
        assert re.search(hook["files"], name), f"{hook_id} would not run on {name}"
    command = hook["entry"].split()
    assert command[0] == "seedflow" and hook["language"] == "python"
    return run(*command[1:], *files).code


def test_the_hooks_install_seedflow_from_this_repository() -> None:
    assert set(HOOKS) == {"seedflow-validate", "seedflow-lock"}
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "pip install seedflow" not in text


def test_validate_hook(run: Run, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "pipelines", tmp_path / "pipelines")
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    assert run_hook(run, "seedflow-validate", "pipelines/catalog.yaml") == 0
    Path("pipelines/broken.yaml").write_text("version: 1\nassets: {a: {prompt: 1}}\n")
    assert run_hook(run, "seedflow-validate", "pipelines/broken.yaml") == 1


@pytest.mark.parametrize(("line", "code"), [(None, 0), ("<<<<<<< HEAD\n", 1)])
def test_lock_hook(run: Run, write_pipeline: object, line: str | None, code: int) -> None:
    Path("pipelines").mkdir()
    Path("pipelines/p.yaml").write_text(
        "version: 1\nprovider: sim\nassets:\n  a:\n    prompt: hi\n    output: a.png\n")
    assert run("apply", "pipelines/p.yaml", "--yes").code == 0
    if line:
        with open("pipelines/p.lock", "a", encoding="utf-8") as lock:
            lock.write(line)
    assert run_hook(run, "seedflow-lock", "pipelines/p.lock") == code
