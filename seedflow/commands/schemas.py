"""``seedflow schemas``: rebuild (or check) the generated JSON Schemas in ``schemas/``.

Request schemas are derived from the provider OpenAPI specs; ``pipeline.schema.json`` and
``lock.schema.json`` come from the definitions in code (so their enums cannot drift).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from seedflow.errors import SeedflowError
from seedflow.lock.schema import lock_schema
from seedflow.pipeline.schema import pipeline_schema
from seedflow.providers import schemas as derivation


def schemas(*, check: bool, schema_dir: Path | None) -> int:
    """Write each derived schema whose content changed; with ``check``, fail if any would be."""
    expected = _expected(schema_dir or derivation.schema_dir())
    stale = {path: state for path, text in expected.items() if (state := _state(path, text))}
    if check:
        _fail_if_stale(stale)
    for path, text in expected.items():
        if path in stale:
            _write(path, text)
        status = "up to date" if check else "wrote" if path in stale else "unchanged"
        click.echo(f"{status:<10}  {_shown(path)}")
    return 0


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
    expected[folder / "pipeline.schema.json"] = derivation.dump(pipeline_schema())
    expected[folder / "lock.schema.json"] = derivation.dump(lock_schema())
    return expected


def _state(path: Path, text: str) -> str:
    """``"missing"``, ``"stale"``, or ``""`` when ``path`` holds ``text``."""
    try:
        return "" if path.read_text(encoding="utf-8") == text else "stale"
    except FileNotFoundError:
        return "missing"


def _fail_if_stale(stale: dict[Path, str]) -> None:
    if stale:
        files = ", ".join(f"{_shown(path)} ({state})" for path, state in stale.items())
        raise SeedflowError(f"generated schemas are out of date: {files}. Run "
                            "`seedflow schemas` and commit the result.")


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically, so a reader never sees half a schema."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise SeedflowError(f"cannot write {_shown(path)}: {exc.strerror}") from exc


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when it is inside it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path
