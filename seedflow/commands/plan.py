"""``seedflow plan PIPELINE``: a read-only diff of the spec against the lock."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from seedflow.plan.render import render_markdown, render_text, use_colour, write_json
from seedflow.project import load_project, open_store

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 2


def plan(path: Path, *, lock_path: Path | None = None, fmt: str = "text",
         detailed_exitcode: bool = False, max_combinations: int | None = None,
         check_hashes: bool = False, store_url: str | None = None) -> int:
    project = load_project(path, lock_path=lock_path, max_combinations=max_combinations)
    result = project.plan(check_hashes=check_hashes,
                          store=open_store(project.pipeline, store_url))
    if fmt == "json":
        write_json(project, result, sys.stdout)
    else:
        lines = (render_markdown(project, result) if fmt == "markdown"
                 else render_text(project, result, colour=use_colour(sys.stdout.isatty())))
        click.echo("\n".join(lines))
    if detailed_exitcode and result.has_work:
        return EXIT_CHANGES
    return EXIT_NO_CHANGES
