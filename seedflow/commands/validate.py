"""``seedflow validate PIPELINE...``: every check short of talking to a provider."""

from __future__ import annotations

from pathlib import Path

import click

from seedflow.errors import SeedflowError
from seedflow.project import expand, pipeline_store


def validate(paths: list[Path], *, max_combinations: int | None = None) -> int:
    """Check each file, print every problem, return 1 if any file is invalid."""
    failed = 0
    for path in paths:
        try:
            pipeline, combos = expand(path, max_combinations=max_combinations)
            pipeline_store(pipeline)
        except SeedflowError as exc:
            failed += 1
            click.echo(f"{exc.message}", err=True)
            continue
        click.echo(f"{path}: valid ({len(combos)} combinations)")
    if failed:
        click.echo(f"{failed} of {len(paths)} pipeline files are invalid.", err=True)
    return 1 if failed else 0
