"""``seedflow gallery PIPELINE -o DIR``: a static HTML contact sheet of the generated images;
with ``--compare REF``, the images a change made, before and after."""

from __future__ import annotations

from pathlib import Path

import click

from seedflow.errors import SeedflowError
from seedflow.gallery import write_compare, write_gallery
from seedflow.project import load_project


def gallery(path: Path, *, out: Path, rows: str | None, cols: str | None, plan_mode: bool,
            lock_path: Path | None, link: bool = False, compare: str | None = None) -> int:
    """Write DIR/index.html (+ thumbs/, and images/ unless ``link``); print its path."""
    if compare is not None:
        check_compare_options(rows=rows, cols=cols, plan_mode=plan_mode, link=link)
    project = load_project(path, lock_path=lock_path)
    if compare is not None:
        index = write_compare(project, out, compare)
    else:
        index = write_gallery(project, out, rows=rows, cols=cols, plan_mode=plan_mode,
                              link=link)
    click.echo(str(index))
    return 0


def check_compare_options(*, rows: str | None, cols: str | None, plan_mode: bool,
                          link: bool) -> None:
    given = [name for name, used in (("--rows", rows), ("--cols", cols), ("--plan", plan_mode),
                                     ("--link", link)) if used]
    if given:
        raise SeedflowError(f"--compare makes a before/after page and does not take "
                            f"{', '.join(given)}; run the gallery without --compare for those")
