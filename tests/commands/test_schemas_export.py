"""``seedflow schemas --export DIR``: the pipeline and lockfile schemas, in a user's project."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from clirun import Run, in_process

from seedflow.commands.schemas import user_schemas
from seedflow.lock.schema import lock_schema
from seedflow.pipeline.schema import pipeline_schema


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return in_process(capsys)


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_export_writes_the_user_facing_schemas(workdir: Path, run: Run) -> None:
    result = run("schemas", "--export", "project/schemas")

    assert (result.code, result.err) == (0, "")
    assert result.out == ("wrote       project/schemas/pipeline.schema.json\n"
                          "wrote       project/schemas/lock.schema.json\n")
    written = files(Path("project"))
    assert list(written) == ["schemas/lock.schema.json", "schemas/pipeline.schema.json"]
    assert json.loads(written["schemas/pipeline.schema.json"]) == pipeline_schema()
    assert json.loads(written["schemas/lock.schema.json"]) == lock_schema()
    for text in written.values():
        jsonschema.Draft202012Validator.check_schema(json.loads(text))


def test_export_is_idempotent_and_check_passes_after_it(workdir: Path, run: Run) -> None:
    run("schemas", "--export", "schemas")
    mtimes = {p: p.stat().st_mtime_ns for p in Path("schemas").iterdir()}

    again = run("schemas", "--export", "schemas")
    check = run("schemas", "--export", "schemas", "--check")

    assert again.out == ("unchanged   schemas/pipeline.schema.json\n"
                         "unchanged   schemas/lock.schema.json\n")
    assert (check.code, check.out) == (0, "up to date  schemas/pipeline.schema.json\n"
                                          "up to date  schemas/lock.schema.json\n")
    assert {p: p.stat().st_mtime_ns for p in Path("schemas").iterdir()} == mtimes


def test_export_replaces_a_stale_schema_and_check_names_it(workdir: Path, run: Run) -> None:
    run("schemas", "--export", "schemas")
    Path("schemas/pipeline.schema.json").write_text("{}\n")

    check = run("schemas", "--export", "schemas", "--check")
    assert (check.code, check.out) == (1, "")
    assert check.err == (
        "error: generated schemas are out of date: schemas/pipeline.schema.json (stale). Run "
        "`seedflow schemas --export schemas` and commit the result.\n")
    assert Path("schemas/pipeline.schema.json").read_text() == "{}\n"

    fixed = run("schemas", "--export", "schemas")
    assert fixed.out == ("wrote       schemas/pipeline.schema.json\n"
                         "unchanged   schemas/lock.schema.json\n")
    assert Path("schemas/pipeline.schema.json").read_text() == user_schemas()[
        "pipeline.schema.json"]


@pytest.mark.parametrize(("setup", "problem"), [
    ("folder-symlink", "out is a symlink, and seedflow never writes through one"),
    ("folder-is-file", "out is a file, not a folder"),
    ("file-symlink", "out/lock.schema.json is a symlink, and seedflow never writes through one"),
])
def test_export_refuses_symlinks_and_files_and_writes_nothing(workdir: Path, run: Run,
                                                              setup: str, problem: str) -> None:
    Path("real").mkdir()
    out = Path("out")
    if setup == "folder-symlink":
        out.symlink_to("real")
    elif setup == "folder-is-file":
        out.write_text("notes\n")
    else:
        out.mkdir()
        (out / "lock.schema.json").symlink_to("../real/lock.json")

    result = run("schemas", "--export", "out")

    assert (result.code, result.out) == (1, "")
    assert result.err == (f"error: cannot export schemas: {problem}. Name a real folder (it is "
                          "created if needed): `seedflow schemas --export DIR`\n")
    assert list(Path("real").iterdir()) == []
    assert not (out.is_dir() and (out / "pipeline.schema.json").exists())


def test_export_and_dir_together_is_a_usage_error(workdir: Path, run: Run) -> None:
    result = run("schemas", "--export", "a", "--dir", "b")

    assert result.code == 2
    assert "Error: --export and --dir cannot be used together" in result.err
    assert not Path("a").exists()
