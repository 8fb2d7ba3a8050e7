"""``seedflow gallery PIPELINE -o DIR``: a static HTML contact sheet of the generated images."""

from __future__ import annotations

from pathlib import Path

import click

from seedflow.gallery import write_gallery
from seedflow.project import load_project


def gallery(path: Path, *, out: Path, rows: str | None, cols: str | None, plan_mode: bool,
            lock_path: Path | None, link: bool = False) -> int:
    """Write DIR/index.html (+ thumbs/, and images/ unless ``link``); print its path."""
    project = load_project(path, lock_path=lock_path)
    index = write_gallery(project, out, rows=rows, cols=cols, plan_mode=plan_mode, link=link)
    click.echo(str(index))
    return 0
