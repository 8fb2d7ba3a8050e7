"""``seedflow validate PIPELINE...``: every check short of talking to a provider."""

from __future__ import annotations

from pathlib import Path

import click

from seedflow.errors import SeedflowError, SpecError, SpecErrors
from seedflow.pipeline.load import PipelineErrors, load_pipeline
from seedflow.pipeline.model import Pipeline
from seedflow.plan.combos import resolve
from seedflow.project import pipeline_store


def validate(paths: list[Path], *, max_combinations: int | None = None) -> int:
    """Check each file, print every problem, return 1 if any file is invalid."""
    failed = 0
    for path in paths:
        try:
            pipeline = load_pipeline(path)
            pipeline_store(pipeline)
            combos = resolve(pipeline, max_combinations=max_combinations)
        except PipelineErrors as exc:  # and the problems of the assets that did build
            failed += 1
            more = _resolve_errors(exc.rest, max_combinations)
            click.echo(SpecErrors(exc.errors + more).message, err=True)
            continue
        except SeedflowError as exc:
            failed += 1
            click.echo(f"{exc.message}", err=True)
            continue
        click.echo(f"{path}: valid ({len(combos)} combinations)")
    if failed:
        click.echo(f"{failed} of {len(paths)} pipeline files are invalid.", err=True)
    return 1 if failed else 0


def _resolve_errors(pipeline: Pipeline, max_combinations: int | None) -> list[SpecError]:
    try:
        resolve(pipeline, max_combinations=max_combinations)
    except SpecErrors as exc:
        return exc.errors
    return []
