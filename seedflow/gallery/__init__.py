"""``seedflow gallery``: a static, self-contained HTML contact sheet of a pipeline's images.

:mod:`.build` turns the pipeline and its plan into a page model (pure), :mod:`.thumbs` does
the file work (thumbnails, copies), :mod:`.html` renders the page.

The folder it writes (and nothing outside it)::

    DIR/index.html                 one page, inline CSS, no scripts, no external resources
                                   (full-size views are CSS :target overlays)
    DIR/thumbs/<sha256>.jpg|png    thumbnails, at most 320 px on the longest side
    DIR/images/<sha256>.<ext>      copies of the full images (not with ``--link``, which
                                   links to the files in output_dir instead)

With ``--compare REF`` the page shows instead what changed between the lock at a git ref
and the working lock, before / after (:mod:`.compare`, :mod:`.comparehtml`, :mod:`.gitref`).

Open it from disk (file://) or upload it as a CI artifact. The layout rules (rows, columns,
sub-grids, placeholders, plan marks) are described in :mod:`seedflow.gallery.build`.
"""

from __future__ import annotations

from pathlib import Path

from seedflow.gallery.build import attach_media, build_page, sources
from seedflow.gallery.compare import Images, compare_page, open_ref
from seedflow.gallery.comparehtml import render_compare
from seedflow.gallery.html import render
from seedflow.gallery.thumbs import materialize, prepare_folder, prune, write_text
from seedflow.lock.model import LockEntry
from seedflow.project import Project, open_store

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


def write_compare(project: Project, out: Path, ref_name: str) -> Path:
    """Build the before/after page of the lock at the git ref ``ref_name`` against the
    working lock in ``out`` (see :mod:`seedflow.gallery.compare`); return its index.html.

    The ref and the lock there are read (and checked) before anything is written."""
    pipeline = project.pipeline
    ref, lock, at_ref = open_ref(pipeline.folder, ref_name, project.lock.path)
    store = open_store(pipeline)
    prepare_folder(out, link=False)
    images = Images(project.root, ref, out, store)
    page = compare_page(pipeline.path.name, ref, lock, at_ref, in_use(project), images)
    prune(out, keep=images.written)
    index = out / INDEX
    write_text(index, render_compare(page))
    return index


def in_use(project: Project) -> dict[str, LockEntry]:
    """The working lock's entries the pipeline still has (an orphan, which ``seedflow prune``
    would remove, counts as removed)."""
    wanted = {combo.fingerprint for combo in project.combinations}
    return {f: e for f, e in project.lock.entries.items() if f in wanted}


__all__ = ["INDEX", "write_compare", "write_gallery"]
