"""``seedflow gallery``: a static, self-contained HTML contact sheet of a pipeline's images.

:mod:`.build` turns the pipeline and its plan into a page model (pure), :mod:`.thumbs` does
the file work (thumbnails, copies), :mod:`.html` renders the page.

The folder it writes (and nothing outside it)::

    DIR/index.html                 one page, inline CSS, no scripts, no external resources
    DIR/thumbs/<sha256>.jpg|png    thumbnails, at most 320 px on the longest side
    DIR/images/<sha256>.<ext>      copies of the full images (not with ``--link``, which
                                   links to the files in output_dir instead)

Open it from disk (file://) or upload it as a CI artifact. The layout rules (rows, columns,
sub-grids, placeholders, plan marks) are described in :mod:`seedflow.gallery.build`.
"""

from __future__ import annotations

from pathlib import Path

from seedflow.gallery.build import attach_media, build_page, sources
from seedflow.gallery.html import render
from seedflow.gallery.thumbs import materialize, prepare_folder, write_text
from seedflow.project import Project

INDEX = "index.html"


def write_gallery(project: Project, out: Path, *, rows: str | None = None,
                  cols: str | None = None, plan_mode: bool = False,
                  link: bool = False) -> Path:
    """Build the gallery of ``project`` in the folder ``out``; return its index.html.

    Writes only inside ``out`` (created if needed; SeedflowError if it is a file).
    """
    pipeline = project.pipeline
    page = build_page(pipeline, project.plan(), rows=rows, cols=cols, plan_mode=plan_mode)
    prepare_folder(out, link=link)
    media = materialize(sources(page), root=project.root, out=out, link=link)
    index = out / INDEX
    write_text(index, render(attach_media(page, media)))
    return index


__all__ = ["INDEX", "write_gallery"]
