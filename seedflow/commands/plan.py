"""``seedflow plan PIPELINE``: a read-only diff of the spec against the lock."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from seedflow.atomic import write_atomic
from seedflow.commands.colour import colour_for
from seedflow.commands.finish import keep_until_exit
from seedflow.plan.diff import Plan, matching, refuse_targets, select
from seedflow.plan.markdown import render_markdown
from seedflow.plan.render import render_text, write_json
from seedflow.plan.saved import SavedPlan, work_of
from seedflow.project import gc_paused, input_digests, load_project, open_store

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 2


@gc_paused()   # a plan keeps nearly all it builds: cyclic collection would only re-walk it
def plan(path: Path, *, lock_path: Path | None = None, fmt: str = "text",
         detailed_exitcode: bool = False, max_combinations: int | None = None,
         check_hashes: bool = False, store_url: str | None = None,
         targets: tuple[str, ...] = (), out: Path | None = None) -> int:
    project = load_project(path, lock_path=lock_path, max_combinations=max_combinations,
                           spec_only=True)
    store = open_store(project.pipeline, store_url)
    result = project.plan(check_hashes=check_hashes, store=store)
    if targets:
        result = Plan(tuple(matching(result, targets) or refuse_targets(result, targets)))
    if out is not None:
        saved = SavedPlan(pipeline=str(path), lock=str(project.lock.path),
                          digests=input_digests(path, project.lock.path), targets=targets,
                          store=store.url if store is not None else None,
                          work=work_of(select(result, targets)))
        write_atomic(out, saved.to_json())
    if fmt == "json":
        write_json(project, result, sys.stdout)
    else:
        lines = (render_markdown(project, result) if fmt == "markdown"
                 else render_text(project, result, colour=colour_for(sys.stdout)))
        click.echo("\n".join(lines))
    if out is not None:
        click.echo(f"Saved this plan to {out}: `seedflow apply --plan {out}` carries out exactly "
                   "this, and refuses if the pipeline, the lock or the files change first.",
                   err=fmt == "json")
    keep_until_exit(project, result)
    if detailed_exitcode and result.has_work:
        return EXIT_CHANGES
    return EXIT_NO_CHANGES
