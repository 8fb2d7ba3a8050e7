"""``seedflow init [PATH]``: write a starter pipeline that runs with no key.

The file names seedflow's JSON Schema for editor completion (the project's
``schemas/pipeline.schema.json`` when there is one, else where to copy it), uses the embedded
simulator (``provider: sim``), and explains in comments how to switch to a paid provider. It
never overwrites a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from seedflow.errors import SeedflowError

DEFAULT_PATH = Path("pipelines/images.yaml")
SCHEMA = Path("schemas/pipeline.schema.json")

TEMPLATE = """\
# yaml-language-server: $schema={schema}
{schema_note}#
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

SCHEMA_NOTE = """\
# Editor completion: {expected} is not in this project yet; to add it, run in {root}:
#   mkdir -p schemas && python -c "import shutil, seedflow.providers.schemas as s; \
shutil.copy(s.schema_dir() / 'pipeline.schema.json', 'schemas')"
"""


def init(path: Path | None = None) -> int:
    target = path or DEFAULT_PATH
    if target.exists() or target.is_symlink():
        raise SeedflowError(f"{target} already exists; seedflow init never overwrites a file. "
                            "Name a new file: `seedflow init pipelines/NAME.yaml`")
    text = starter(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("x", encoding="utf-8") as fh:  # "x": refuse a file created meanwhile
            fh.write(text)
    except FileExistsError:
        raise SeedflowError(f"{target} already exists; seedflow init never overwrites a file"
                            ) from None
    click.echo(f"Wrote {target}. Next: `seedflow plan {target}`, then `seedflow apply {target}` "
               "(simulated: no key, no cost).")
    return 0


def starter(target: Path) -> str:
    """The starter pipeline's text for a file at ``target``."""
    folder = target.absolute().parent
    root = _root(folder)
    found = find_schema(folder)
    note = "" if found else SCHEMA_NOTE.format(expected=SCHEMA.as_posix(),
                                               root=_shown_folder(root))
    return TEMPLATE.format(
        schema=_relative(found or root / SCHEMA, folder), schema_note=note,
        shown=target.as_posix(), lock=target.with_suffix(".lock").as_posix(),
        output_dir=f"output_dir: {_relative(root / 'assets' / target.stem, folder)}".ljust(29))


def find_schema(folder: Path) -> Path | None:
    """``schemas/pipeline.schema.json`` in ``folder`` or a parent, up to the project's root
    (the current directory, or a folder holding ``.git``)."""
    cwd = Path.cwd()
    for candidate in (folder, *folder.parents):
        if (candidate / SCHEMA).is_file():
            return candidate / SCHEMA
        if candidate == cwd or (candidate / ".git").exists():
            return None
    return None


def _root(folder: Path) -> Path:
    """The project's folder: the current directory when the pipeline is inside it."""
    cwd = Path.cwd()
    return cwd if folder.is_relative_to(cwd) else folder


def _shown_folder(folder: Path) -> str:
    return "this folder" if folder == Path.cwd() else f"the folder {folder}"


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()
