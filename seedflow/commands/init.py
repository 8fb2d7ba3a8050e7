"""``seedflow init [DIR | FILE.yaml]``: a starter project that runs with no key.

``seedflow init DIR`` creates DIR (and its parents) with the layout the README recommends:
``pipelines/images.yaml`` and ``schemas/pipeline.schema.json``, the schema the pipeline's first
line names for editor completion. ``seedflow init`` does the same in the current directory, and
``seedflow init pipelines/NAME.yaml`` writes that file, pointing at the project's schema (a
``schemas/pipeline.schema.json`` in its folder or above, else one exported to the project's
``schemas/``). The pipeline uses the embedded simulator (``provider: sim``) and explains in
comments how to switch to a paid provider. init checks everything before it writes anything: it
never overwrites a file and never writes through a symlink.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from seedflow.commands.schemas import PIPELINE_SCHEMA, folder_problem, user_schemas, write_schema
from seedflow.errors import SeedflowError

PIPELINE = Path("pipelines/images.yaml")
SCHEMA = Path("schemas") / PIPELINE_SCHEMA
SUFFIXES = (".yaml", ".yml")

TEMPLATE = """\
# yaml-language-server: $schema={schema}
#
# A starter seedflow pipeline. `seedflow plan {shown}` shows what apply would generate
# (read-only); `seedflow apply {shown}` generates it and records every task in {lock}.
# Commit the lockfile with the pipeline: it is the record of what has been generated (and paid
# for), so nothing is ever generated twice.
#
# This file runs on seedflow's embedded simulator (`provider: sim`): no key, no cost, real PNGs.
# To generate for real with Seedream 4.0:
#   1. set `provider: apikley` (or `modellix`; `sim:modellix` rehearses Modellix's protocol);
#   2. export APIKLEY_API_KEY=... (or MODELLIX_API_KEY=...): keys are read from the environment
#      only, never from this file;
#   3. run `seedflow plan` first: every image then shows up as a paid `create`.
# The provider is part of each image's identity, so simulated images are never reused as real.
version: 1
provider: sim                 # apikley | modellix | sim | sim:modellix
{output_dir} # where images go, relative to this file's folder
vars:                         # constants for the templates below
  style: soft studio light, seamless white backdrop
defaults:                     # request parameters for every asset
  resolution: 1K              # 1K | 2K | 4K

assets:
  products:
    prompt: "Product photo of {{{{ product.text }}}}, {{{{ style }}}}"
    matrix:                   # one image (one task) per combination of these values
      product:
        - {{id: mug, text: a matte ceramic coffee mug}}
        - {{id: lamp, text: a brass desk lamp}}
      aspect: ["1:1", "16:9"] # axes named like a parameter set it; the others are template vars
      seed: [1]
      # exclude:              # drop combinations; a partial match drops every one it matches
      #   - {{product: {{id: lamp}}, aspect: "16:9"}}
      # include:              # add a combination of its own (or extend the ones it matches)
      #   - {{product: {{id: mug, text: a matte ceramic coffee mug}}, aspect: "9:16", seed: 1}}
    output: "products/{{{{ product.id }}}}/{{{{ aspect | slug }}}}-s{{{{ seed }}}}.png"
"""



@dataclass(frozen=True)
class Layout:
    """Where init writes: the pipeline, the schema it names, and the project folder (where
    ``assets/`` and, unless one is found above the pipeline, ``schemas/`` go)."""

    pipeline: Path
    schema: Path
    root: Path


def init(path: Path | None = None) -> int:
    layout = plan_layout(path)
    schema_text = user_schemas()[PIPELINE_SCHEMA]
    _refuse_unsafe(layout)
    _write_new(layout.pipeline, starter(layout))
    click.echo(f"Wrote {layout.pipeline}")
    if not layout.schema.exists():
        write_schema(layout.schema, schema_text)
        click.echo(f"Wrote {layout.schema} (its JSON Schema, for editor completion)")
    elif not _holds(layout.schema, schema_text):
        click.echo(f"Kept {layout.schema}, which differs from this seedflow's schema; "
                   f"`seedflow schemas --export {layout.schema.parent}` refreshes it.")
    click.echo(f"Next: `seedflow plan {layout.pipeline}`, then `seedflow apply "
               f"{layout.pipeline}` (simulated: no key, no cost).")
    return 0


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def plan_layout(path: Path | None) -> Layout:
    """A FILE.yaml argument is the pipeline itself; anything else is a project folder."""
    if path is not None and path.suffix in SUFFIXES:
        folder = _clean(path.absolute()).parent
        root = _root(folder)
        schema = find_schema(folder, root) or root / SCHEMA
        return Layout(path, _as_given(schema, path), _as_given(root, path))
    root = path or Path(".")
    return Layout(_clean(root / PIPELINE), _clean(root / SCHEMA), root)


def _refuse_unsafe(layout: Layout) -> None:
    """Every reason not to write, found before anything is written."""
    target = layout.pipeline
    if target.exists() or target.is_symlink():
        raise SeedflowError(f"{target} already exists; seedflow init never overwrites a file. "
                            f"Name a new file: `seedflow init {target.parent / 'NAME.yaml'}`")
    for folder in _folders(layout):
        if problem := folder_problem(folder):
            raise SeedflowError(f"cannot initialise {target}: {problem}. Name another "
                                "folder: `seedflow init DIR`")
    if problem := _schema_problem(layout.schema):
        raise SeedflowError(f"cannot write {layout.schema}: {problem}. Remove it, or name "
                            "another folder: `seedflow init DIR`")


def _schema_problem(schema: Path) -> str | None:
    """Why the schema can be neither pointed at nor written, if so."""
    if schema.is_file():
        return None
    if schema.is_symlink():
        return "it is a broken symlink, and seedflow never writes through one"
    return "it is a folder, not a file" if schema.exists() else None


def _folders(layout: Layout) -> list[Path]:
    """The folders init writes into: the project folder and those between it and each file it
    writes (an existing schema is only pointed at)."""
    root = _clean(layout.root.absolute())
    folders = {root}
    written = (layout.pipeline,) if layout.schema.exists() else (layout.pipeline, layout.schema)
    for file in written:
        folder = _clean(file.absolute()).parent
        folders.update(f for f in (folder, *folder.parents) if f.is_relative_to(root))
    return sorted(folders)


def _write_new(target: Path, text: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as fh:  # "x": refuse a file created meanwhile
            fh.write(text)
    except FileExistsError:
        raise SeedflowError(f"{target} already exists; seedflow init never overwrites a file"
                            ) from None
    except OSError as exc:
        raise SeedflowError(f"cannot write {target}: {exc.strerror}") from exc


def starter(layout: Layout) -> str:
    """The starter pipeline's text for ``layout``."""
    target = layout.pipeline
    folder = _clean(target.absolute()).parent
    return TEMPLATE.format(
        schema=_relative(layout.schema.absolute(), folder),
        shown=target.as_posix(), lock=target.with_suffix(".lock").as_posix(),
        output_dir=f"output_dir: "
                   f"{_relative(layout.root.absolute() / 'assets' / target.stem, folder)}"
                   .ljust(29))


def find_schema(folder: Path, root: Path) -> Path | None:
    """``schemas/pipeline.schema.json`` in ``folder`` or a parent, up to ``root`` or a folder
    holding ``.git``."""
    for candidate in (folder, *folder.parents):
        if (candidate / SCHEMA).is_file():
            return candidate / SCHEMA
        if candidate == root or (candidate / ".git").exists():
            return None
    return None


def _root(folder: Path) -> Path:
    """The project's folder: the current directory when the pipeline is inside it."""
    cwd = Path.cwd()
    return cwd if folder.is_relative_to(cwd) else folder


def _as_given(path: Path, like: Path) -> Path:
    """``path`` (absolute) relative to the current directory when ``like`` was given so."""
    if like.is_absolute() or not path.is_relative_to(Path.cwd()):
        return path
    return _clean(path.relative_to(Path.cwd()))


def _clean(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()
