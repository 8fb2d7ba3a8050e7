"""``seedflow init``: a starter project whose pipeline validates, whose `$schema` line resolves,
that runs with no key, and that never overwrites a file or writes through a symlink."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from clirun import Run, in_process

from seedflow.commands.schemas import user_schemas
from seedflow.pipeline.load import load_pipeline
from seedflow.plan.combos import resolve

DEFAULT = Path("pipelines/images.yaml")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return in_process(capsys)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root``: a file's bytes, a symlink's target, ``dir`` for a folder."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        found[key] = (f"-> {path.readlink()}" if path.is_symlink()
                      else "dir" if path.is_dir() else path.read_bytes())
    return found


def schema_of(pipeline: Path) -> Path:
    """The file the pipeline's modeline names, resolved from the pipeline's folder (as an
    editor's YAML language server does)."""
    first = pipeline.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match is not None, first
    return pipeline.parent / match[1]


def test_init_dir_creates_the_project_with_a_schema_that_resolves(workdir: Path,
                                                                   run: Run) -> None:
    result = run("init", "studio/art")

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "Wrote studio/art/pipelines/images.yaml\n"
        "Wrote studio/art/schemas/pipeline.schema.json (its JSON Schema, for editor "
        "completion)\n"
        "Next: `seedflow plan studio/art/pipelines/images.yaml`, then `seedflow apply "
        "studio/art/pipelines/images.yaml` (simulated: no key, no cost).\n")
    pipeline = Path("studio/art/pipelines/images.yaml")
    assert sorted(snapshot(Path("studio"))) == [
        "art", "art/pipelines", "art/pipelines/images.yaml", "art/schemas",
        "art/schemas/pipeline.schema.json"]
    schema_file = schema_of(pipeline)
    assert schema_file.resolve() == Path("studio/art/schemas/pipeline.schema.json").resolve()
    schema = json.loads(schema_file.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(pipeline.read_text()))
    assert "\noutput_dir: ../assets/images " in pipeline.read_text()


def test_the_starter_plans_and_applies_from_outside_the_project(workdir: Path,
                                                                run: Run) -> None:
    assert run("init", "studio").code == 0
    pipeline = "studio/pipelines/images.yaml"

    assert run("validate", pipeline).out == f"{pipeline}: valid (4 combinations)\n"
    planned = run("plan", pipeline)
    assert planned.code == 0
    assert planned.out.endswith(
        "\nPlan: 4 to create (simulated), 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "0 unchanged.\nCost: nothing (4 simulated images).\n")
    applied = run("apply", pipeline)
    assert applied.code == 0
    assert "4 done, 0 failed" in applied.out
    assert len(list(Path("studio/assets/images/products").rglob("*.png"))) == 4
    assert Path("studio/pipelines/images.lock").is_file()


def test_init_without_an_argument_starts_the_project_here(workdir: Path, run: Run) -> None:
    result = run("init")

    assert result.out == (
        "Wrote pipelines/images.yaml\n"
        "Wrote schemas/pipeline.schema.json (its JSON Schema, for editor completion)\n"
        "Next: `seedflow plan pipelines/images.yaml`, then `seedflow apply "
        "pipelines/images.yaml` (simulated: no key, no cost).\n")
    assert DEFAULT.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=../schemas/pipeline.schema.json")
    assert schema_of(DEFAULT).read_text() == user_schemas()["pipeline.schema.json"]
    assert "\nprovider: sim " in DEFAULT.read_text()


def test_a_file_argument_points_at_the_projects_schema(workdir: Path, run: Run) -> None:
    Path("schemas").mkdir()
    Path("schemas/pipeline.schema.json").write_text(user_schemas()["pipeline.schema.json"])

    result = run("init", "deep/down/art.yaml")

    assert result.out == (
        "Wrote deep/down/art.yaml\n"
        "Next: `seedflow plan deep/down/art.yaml`, then `seedflow apply deep/down/art.yaml` "
        "(simulated: no key, no cost).\n")
    text = Path("deep/down/art.yaml").read_text()
    assert text.splitlines()[0] == (
        "# yaml-language-server: $schema=../../schemas/pipeline.schema.json")
    assert "\noutput_dir: ../../assets/art " in text
    assert run("validate", "deep/down/art.yaml").code == 0


def test_a_file_argument_exports_the_schema_when_the_project_has_none(workdir: Path,
                                                                      run: Run) -> None:
    result = run("init", "pipelines/art.yml")

    assert result.out.splitlines()[:2] == [
        "Wrote pipelines/art.yml",
        "Wrote schemas/pipeline.schema.json (its JSON Schema, for editor completion)"]
    assert schema_of(Path("pipelines/art.yml")).is_file()


def test_an_existing_different_schema_is_kept_and_named(workdir: Path, run: Run) -> None:
    Path("schemas").mkdir()
    Path("schemas/pipeline.schema.json").write_text("{}\n")

    result = run("init")

    assert result.code == 0
    assert result.out.splitlines()[1] == (
        "Kept schemas/pipeline.schema.json, which differs from this seedflow's schema; "
        "`seedflow schemas --export schemas` refreshes it.")
    assert Path("schemas/pipeline.schema.json").read_text() == "{}\n"


def test_refuses_to_overwrite_and_writes_nothing(workdir: Path, run: Run) -> None:
    assert run("init", "studio").code == 0
    Path("studio/pipelines/images.yaml").write_text("mine\n")
    Path("studio/schemas/pipeline.schema.json").unlink()
    before = snapshot(workdir)

    result = run("init", "studio")

    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "error: studio/pipelines/images.yaml already exists; seedflow init never overwrites a "
        "file. Name a new file: `seedflow init studio/pipelines/NAME.yaml`\n")
    assert snapshot(workdir) == before


@pytest.mark.parametrize(("setup", "argument", "problem"), [
    ("file", "here", "here is a file, not a folder"),
    ("symlink", "here", "here is a symlink, and seedflow never writes through one"),
    ("dangling", "here", "here is a symlink, and seedflow never writes through one"),
    ("symlinked-pipelines", "here",
     "here/pipelines is a symlink, and seedflow never writes through one"),
    ("symlinked-schemas", "here",
     "here/schemas is a symlink, and seedflow never writes through one"),
    ("symlink", "here/art.yaml", "here is a symlink, and seedflow never writes through one"),
])
def test_refuses_a_file_or_a_symlink_in_the_way(workdir: Path, run: Run, setup: str,
                                                argument: str, problem: str) -> None:
    Path("elsewhere").mkdir()
    here = Path("here")
    if setup == "file":
        here.write_text("notes\n")
    elif setup == "symlink":
        here.symlink_to("elsewhere")
    elif setup == "dangling":
        here.symlink_to("nowhere")
    else:
        here.mkdir()
        (here / setup.removeprefix("symlinked-")).symlink_to("../elsewhere")
    before = snapshot(workdir)

    result = run("init", argument)

    target = argument if argument.endswith(".yaml") else f"{argument}/pipelines/images.yaml"
    assert (result.code, result.out) == (1, "")
    assert result.err == (f"error: cannot initialise {target}: {problem}. Name another folder: "
                          "`seedflow init DIR`\n")
    assert snapshot(workdir) == before


@pytest.mark.parametrize(("setup", "problem"), [
    ("folder", "it is a folder, not a file"),
    ("dangling", "it is a broken symlink, and seedflow never writes through one"),
])
def test_refuses_a_schema_path_it_can_neither_use_nor_write(workdir: Path, run: Run,
                                                            setup: str, problem: str) -> None:
    schema = Path("studio/schemas/pipeline.schema.json")
    schema.parent.mkdir(parents=True)
    if setup == "folder":
        schema.mkdir()
    else:
        schema.symlink_to("nowhere.json")
    before = snapshot(workdir)

    result = run("init", "studio")

    assert (result.code, result.out) == (1, "")
    assert result.err == (f"error: cannot write {schema}: {problem}. Remove it, or name another "
                          "folder: `seedflow init DIR`\n")
    assert snapshot(workdir) == before


def test_an_existing_schema_behind_a_symlink_is_pointed_at_not_written(workdir: Path,
                                                                        run: Run) -> None:
    Path("shared").mkdir()
    Path("shared/pipeline.schema.json").write_text(user_schemas()["pipeline.schema.json"])
    Path("studio").mkdir()
    Path("studio/schemas").symlink_to("../shared")

    result = run("init", "studio")

    assert (result.code, result.out.splitlines()[0]) == (0, "Wrote studio/pipelines/images.yaml")
    assert "schemas/pipeline.schema.json" not in result.out
    assert schema_of(Path("studio/pipelines/images.yaml")).is_file()
    assert sorted(p.name for p in Path("shared").iterdir()) == ["pipeline.schema.json"]


def test_include_and_exclude_work_when_uncommented(workdir: Path, run: Run) -> None:
    run("init")
    text = re.sub(r"^(\s*)# ((?:exclude|include):|  - )", r"\1\2", DEFAULT.read_text(),
                  flags=re.MULTILINE)
    DEFAULT.write_text(text)

    addresses = [c.address for c in resolve(load_pipeline(DEFAULT))]

    assert "products[product.id=lamp, aspect=16:9, seed=1]" not in addresses
    assert "products[product.id=mug, aspect=9:16, seed=1]" in addresses
    assert len(addresses) == 4
