"""``seedflow ci plan`` and ``seedflow ci comment``: the steps of the GitHub Action
(action.yml at the repository root), hidden from ``--help`` because people run ``plan``.

``ci plan`` plans every pipeline into one markdown report (the PR comment and the job summary)
and the action's outputs; ``ci comment`` posts that report as the one sticky comment. The
token comes from ``GITHUB_TOKEN`` only (never an argument, which other processes can read).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from seedflow.ci.github import PullRequest, post_sticky
from seedflow.ci.report import (
    PipelineReport,
    append,
    combined_markdown,
    output_lines,
    outputs,
    plan_pipeline,
)
from seedflow.errors import SeedflowError


def plan(paths: Sequence[Path], *, markdown: Path, store_url: str | None = None,
         targets: Sequence[str] = (), github_output: Path | None = None,
         step_summary: Path | None = None) -> int:
    """Plan each pipeline (a failure is reported, and the others still planned), write the
    markdown report and the outputs; 1 if any pipeline could not be planned."""
    reports = [plan_pipeline(path, store_url=store_url, targets=targets) for path in paths]
    text = combined_markdown(reports)
    markdown.write_text(text, encoding="utf-8")
    click.echo(text, nl=False)
    if step_summary is not None:
        append(step_summary, text)
    if github_output is not None:
        append(github_output, output_lines(outputs(reports)))
    return _failures(reports)


def _failures(reports: Sequence[PipelineReport]) -> int:
    failed = [report for report in reports if report.error is not None]
    for report in failed:
        click.echo(f"error: {report.pipeline}: {report.error}", err=True)
    if failed:
        click.echo(f"{len(failed)} of {len(reports)} pipelines could not be planned.", err=True)
    return 1 if failed else 0


def comment(body: Path, *, number: int, repo: str, api_url: str, key: str = "default",
            github_output: Path | None = None, env: Mapping[str, str] = os.environ) -> int:
    """Create or edit the pull request's plan comment for ``key`` with the text of ``body``."""
    try:
        text = body.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedflowError(f"cannot read the comment body {body}: {exc}") from None
    pr = PullRequest(api_url=api_url, repo=repo, number=number)
    posted = post_sticky(pr, env.get("GITHUB_TOKEN", ""), key, text + run_footer(env))
    click.echo(f"{'Posted' if posted.created else 'Updated'} the plan comment: {posted.url}")
    if github_output is not None:
        append(github_output, output_lines({"comment-url": posted.url}))
    return 0


def run_footer(env: Mapping[str, str]) -> str:
    """A link to the run that wrote the comment, when GitHub says which run this is."""
    server, repo, run = (env.get(name, "") for name in
                         ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if not (server and repo and run.isdigit()):
        return ""
    return f"\n<sub>Planned by seedflow in [run {run}]({server}/{repo}/actions/runs/{run}).</sub>\n"
