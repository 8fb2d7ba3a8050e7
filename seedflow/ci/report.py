"""The plan of several pipelines as one report: the markdown a pull-request comment and the
job summary show, and the action's outputs (``has-work``, ``creates``, ``images``).

Everything comes from the same :class:`~seedflow.plan.diff.Plan` objects that ``seedflow
plan`` renders (markdown as ``--format markdown``, counts as the ``summary`` and ``cost`` of
``--format json``), so the comment and the outputs can never disagree.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from seedflow.errors import SeedflowError
from seedflow.plan.diff import Plan, matching, refuse_targets
from seedflow.plan.markdown import code_span, fence_length, plain, render_markdown
from seedflow.plan.render import cost_estimate
from seedflow.project import load_project, open_store


@dataclass(frozen=True)
class PipelineReport:
    """One pipeline's plan (or why there is none)."""

    pipeline: Path
    markdown: str
    has_work: bool = False
    creates: int = 0
    images: int = 0
    error: str | None = None


def plan_pipeline(path: Path, *, store_url: str | None = None,
                  targets: Sequence[str] = ()) -> PipelineReport:
    """Plan one pipeline as ``seedflow plan`` does; an expected failure becomes the report."""
    try:
        project = load_project(path, spec_only=True)   # as `seedflow plan`: history streams
        result = project.plan(store=open_store(project.pipeline, store_url))
        if targets:
            result = Plan(tuple(matching(result, targets) or refuse_targets(result, targets)))
    except SeedflowError as exc:
        return PipelineReport(path, failure_markdown(path, exc.message), error=exc.message)
    estimate = cost_estimate(project, result)
    return PipelineReport(path, "\n".join(render_markdown(project, result)).rstrip("\n"),
                          has_work=result.has_work, creates=result.summary["create"],
                          images=estimate.images)


def failure_markdown(path: Path, message: str) -> str:
    """A failed plan in the comment: a stale plan must never stay up as if it were current.
    The path and the message are the pull request's text: code only, nothing escapes it
    (escaped as the plan's own markdown escapes it)."""
    lines = [plain(line) for line in message.split("\n")]
    fence = "`" * fence_length(lines)
    body = "\n".join(lines)
    return (f"### seedflow plan: {code_span(str(path))}\n\n**The plan failed**; nothing "
            f"below is current.\n\n{fence}text\n{body}\n{fence}")


def combined_markdown(reports: Iterable[PipelineReport]) -> str:
    return "\n\n".join(report.markdown for report in reports) + "\n"


def outputs(reports: Sequence[PipelineReport]) -> dict[str, str]:
    """The action's outputs: whether ``apply`` has anything to do, and the paid work."""
    return {
        "has-work": "true" if any(r.has_work for r in reports) else "false",
        "creates": str(sum(r.creates for r in reports)),
        "images": str(sum(r.images for r in reports)),
        "failed": str(sum(r.error is not None for r in reports)),
    }


def output_lines(values: Mapping[str, str]) -> str:
    """``values`` in the format of GitHub's ``$GITHUB_OUTPUT`` file: ``name=value``, or a
    heredoc with an unguessable delimiter for a value with a line break (so no value can end
    the block early and set another output)."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"seedflow_{secrets.token_hex(16)}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}")
        else:
            lines.append(f"{name}={value}")
    return "".join(line + "\n" for line in lines)


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)
