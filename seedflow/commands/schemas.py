"""``seedflow schemas``: rebuild (or check) the generated JSON Schemas in ``schemas/``, or
export the file formats' schemas into a user's project.

Request schemas are derived from the provider OpenAPI specs; ``pipeline.schema.json`` and
``lock.schema.json`` come from the definitions in code (so their enums cannot drift). Those two
describe the files a user writes and commits, so ``--export DIR`` writes them into any folder
(``seedflow init`` writes the pipeline's), where an editor's ``$schema`` line can reach them.
"""

from __future__ import annotations

from pathlib import Path

import click

from seedflow.atomic import write_atomic
from seedflow.errors import SeedflowError
from seedflow.lock.schema import lock_schema
from seedflow.pipeline.schema import pipeline_schema
from seedflow.providers import schemas as derivation

PIPELINE_SCHEMA = "pipeline.schema.json"
LOCK_SCHEMA = "lock.schema.json"


def schemas(*, check: bool, schema_dir: Path | None, export: Path | None = None) -> int:
    """Write each schema whose content changed; with ``check``, fail if any would be. With
    ``export``, the user-facing schemas in that folder; else every derived schema in
    ``schema_dir`` (default: the project's)."""
    if export is not None:
        expected = _exported(export)
    else:
        expected = _expected(schema_dir or derivation.schema_dir())
    stale = {path: state for path, text in expected.items() if (state := _state(path, text))}
    if check:
        _fail_if_stale(stale, export)
    for path, text in expected.items():
        if path in stale:
            write_schema(path, text)
        status = "up to date" if check else "wrote" if path in stale else "unchanged"
        click.echo(f"{status:<10}  {_shown(path)}")
    return 0


def user_schemas() -> dict[str, str]:
    """The schemas of the files a user writes and commits, by file name: the pipeline's and
    the lockfile's."""
    return {PIPELINE_SCHEMA: derivation.dump(pipeline_schema()),
            LOCK_SCHEMA: derivation.dump(lock_schema())}


def _exported(folder: Path) -> dict[Path, str]:
    """The user-facing schemas in ``folder``; refused, before anything is written, when the
    folder or a file in it is a symlink or the folder is a file."""
    files = {folder / name: text for name, text in user_schemas().items()}
    if problem := folder_problem(folder) or next(filter(None, map(_symlink, files)), None):
        raise SeedflowError(f"cannot export schemas: {problem}. Name a real folder "
                            "(it is created if needed): `seedflow schemas --export DIR`")
    return files


def folder_problem(folder: Path) -> str | None:
    """Why seedflow may not write files into ``folder`` (a symlink, or not a folder), if so."""
    if problem := _symlink(folder):
        return problem
    if folder.exists() and not folder.is_dir():
        return f"{_shown(folder)} is a file, not a folder"
    return None


def _expected(folder: Path) -> dict[Path, str]:
    """Every generated file's path and text: request schemas from ``folder/openapi/*.yaml``,
    plus the pipeline and lockfile schemas, which seedflow defines in code."""
    specs = sorted((folder / "openapi").glob("*.yaml"))
    if not specs:
        raise SeedflowError(f"no OpenAPI specs in {_shown(folder / 'openapi')}: pass the "
                            "schemas/ folder with --dir.")
    expected = {folder / name: derivation.dump(schema)
                for spec in specs
                for name, schema in derivation.derive(derivation.load_openapi(spec),
                                                      spec.stem).items()}
    expected.update({folder / name: text for name, text in user_schemas().items()})
    return expected


def _state(path: Path, text: str) -> str:
    """``"missing"``, ``"stale"``, or ``""`` when ``path`` holds ``text``."""
    try:
        return "" if path.read_text(encoding="utf-8") == text else "stale"
    except FileNotFoundError:
        return "missing"


def _fail_if_stale(stale: dict[Path, str], export: Path | None) -> None:
    if stale:
        files = ", ".join(f"{_shown(path)} ({state})" for path, state in stale.items())
        fix = f"seedflow schemas --export {export}" if export is not None else "seedflow schemas"
        raise SeedflowError(f"generated schemas are out of date: {files}. Run `{fix}` and "
                            "commit the result.")


def write_schema(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader never sees half a schema), creating its folder;
    never through a symlink."""
    if problem := _symlink(path) or folder_problem(path.parent):
        raise SeedflowError(f"cannot write {_shown(path)}: {problem}. Remove it, or export "
                            "elsewhere: `seedflow schemas --export DIR`")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise SeedflowError(f"cannot write {_shown(path)}: {exc.strerror}") from exc


def _symlink(path: Path) -> str | None:
    if path.is_symlink():
        return f"{_shown(path)} is a symlink, and seedflow never writes through one"
    return None


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when it is inside it (a symlink itself, not
    what it points to)."""
    try:
        return (path.parent.resolve() / path.name).relative_to(Path.cwd())
    except ValueError:
        return path
