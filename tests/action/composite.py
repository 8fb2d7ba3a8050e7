"""Runs action.yml's composite steps locally, in order, the way GitHub's runner does.

Only what this action uses is supported, and anything else fails loudly rather than being
imitated: every step is a ``run:`` step with ``shell: bash`` (run as GitHub runs it,
``bash --noprofile --norc -eo pipefail FILE``); ``${{ }}`` may appear only as a whole
``env:``/``working-directory:`` value or output value, naming ``inputs.NAME`` or
``steps.ID.outputs.NAME``; ``if:`` is absent (run only while every earlier step succeeded) or
``${{ !cancelled() }}`` (run anyway). Each step gets its own ``GITHUB_OUTPUT`` file, parsed as
GitHub parses it (``name=value`` and ``name<<DELIMITER`` blocks).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
ALWAYS = "${{ !cancelled() }}"


def action(root: Path = ROOT) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / "action.yml").read_text(encoding="utf-8"))
    return data


@dataclass
class StepRun:
    id: str
    code: int | None            # None: skipped
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(step.code in (0, None) for step in self.steps)

    @property
    def log(self) -> str:
        return "".join(step.stdout + step.stderr for step in self.steps)

    def step(self, step_id: str) -> StepRun:
        return next(step for step in self.steps if step.id == step_id)


def run_action(inputs: Mapping[str, str], *, workspace: Path, runner_temp: Path,
               env: Mapping[str, str], action_path: Path = ROOT) -> ActionRun:
    """Run the action with ``inputs`` (the defaults fill the rest) in ``workspace``."""
    spec = action(action_path)
    values = _inputs(spec, inputs)
    summary = runner_temp / "step-summary.md"
    summary.touch()
    result = ActionRun()
    outputs: dict[str, dict[str, str]] = {}
    for number, step in enumerate(spec["runs"]["steps"]):
        failed = not result.ok
        condition = step.get("if")
        assert condition in (None, ALWAYS), f"the runner cannot evaluate if: {condition}"
        if failed and condition is None:
            result.steps.append(StepRun(step["id"], None, "", "", {}))
            continue
        context = {"inputs": values, "steps": outputs}
        ran = _run_step(step, number, context, workspace, runner_temp, summary, env,
                        action_path)
        outputs[step["id"]] = ran.outputs
        result.steps.append(ran)
    context = {"inputs": values, "steps": outputs}
    result.outputs = {name: _value(out["value"], context)
                      for name, out in spec.get("outputs", {}).items()}
    return result


def _inputs(spec: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    declared = spec["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"not inputs of the action: {unknown}"
    values = {}
    for name, meta in declared.items():
        value = given[name] if name in given else str(meta.get("default", ""))
        assert "${{" not in value, f"give the input {name}: its default needs GitHub"
        values[name] = value
    return values


def _run_step(step: Mapping[str, Any], number: int, context: Mapping[str, Any],
              workspace: Path, runner_temp: Path, summary: Path, env: Mapping[str, str],
              action_path: Path) -> StepRun:
    assert step.get("shell") == "bash" and "run" in step and "uses" not in step, step
    assert "${{" not in step["run"], f"step {step['id']}: an expression inside run:"
    output = runner_temp / f"output-{number}"
    output.write_text("")
    script = runner_temp / f"step-{number}.sh"
    script.write_text(step["run"], encoding="utf-8")
    step_env = {**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_PATH": str(runner_temp / "path"), "GITHUB_ACTION_PATH": str(action_path),
                "RUNNER_TEMP": str(runner_temp)}
    step_env.update({name: _value(str(v), context) for name, v in step.get("env", {}).items()})
    cwd = workspace / _value(str(step.get("working-directory", ".")), context)
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=cwd, env=step_env, capture_output=True, text=True, timeout=300)
    return StepRun(step["id"], done.returncode, done.stdout, done.stderr,
                   parse_outputs(output.read_text(encoding="utf-8")))


def _value(text: str, context: Mapping[str, Any]) -> str:
    """A value that is plain text, or exactly one ``${{ inputs.X }}`` / ``${{ steps.ID.outputs.X
    }}`` expression (a step that did not run has no outputs: empty, as on GitHub)."""
    match = EXPRESSION.fullmatch(text.strip())
    if not match:
        assert "${{" not in text, f"unsupported expression in {text!r}"
        return text
    parts = match[1].split(".")
    if parts[0] == "inputs" and len(parts) == 2:
        return str(context["inputs"][parts[1]])
    if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
        return str(context["steps"].get(parts[1], {}).get(parts[3], ""))
    raise AssertionError(f"unsupported expression {match[0]}")


def parse_outputs(text: str) -> dict[str, str]:
    """A ``$GITHUB_OUTPUT`` file as GitHub reads it."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment (already scrubbed of seedflow settings) plus ``extra``."""
    return {**os.environ, **extra}
