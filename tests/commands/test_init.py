"""``seedflow init``: a starter pipeline that validates, runs with no key, and never overwrites."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seedflow.cli import main
from seedflow.commands.init import init
from seedflow.commands.validate import validate
from seedflow.errors import SeedflowError
from seedflow.pipeline.load import load_pipeline
from seedflow.plan.combos import resolve

DEFAULT = Path("pipelines/images.yaml")


def test_writes_a_valid_starter_pipeline(workdir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert init() == 0

    text = DEFAULT.read_text()
    assert capsys.readouterr().out == (
        "Wrote pipelines/images.yaml. Next: `seedflow plan pipelines/images.yaml`, then "
        "`seedflow apply pipelines/images.yaml` (simulated: no key, no cost).\n")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
    assert "\nprovider: sim " in text
    assert "\noutput_dir: ../assets/images " in text
    assert validate([DEFAULT]) == 0
    assert capsys.readouterr().out == "pipelines/images.yaml: valid (4 combinations)\n"


def test_without_a_schema_the_comment_says_how_to_get_it(workdir: Path) -> None:
    init()
    lines = DEFAULT.read_text().splitlines()

    assert lines[1] == ("# Editor completion: schemas/pipeline.schema.json is not in this "
                        "project yet; to add it, run in this folder:")
    command = lines[2].removeprefix("#   ")
    assert command.startswith("mkdir -p schemas && python -c ")
    python = re.search(r'python -c "(.*)"$', command)
    assert python is not None
    Path("schemas").mkdir()
    exec(python[1], {})  # what the comment tells the user to run

    assert Path("schemas/pipeline.schema.json").is_file()


def test_points_at_the_projects_schema_when_there_is_one(workdir: Path) -> None:
    (workdir / "schemas").mkdir()
    (workdir / "schemas" / "pipeline.schema.json").write_text("{}")

    init(Path("deep/down/art.yaml"))

    lines = Path("deep/down/art.yaml").read_text().splitlines()
    assert lines[0] == "# yaml-language-server: $schema=../../schemas/pipeline.schema.json"
    assert lines[1] == "#"  # no note about getting the schema
    assert "\noutput_dir: ../../assets/art " in Path("deep/down/art.yaml").read_text()
    assert validate([Path("deep/down/art.yaml")]) == 0


def test_refuses_to_overwrite(workdir: Path) -> None:
    DEFAULT.parent.mkdir()
    DEFAULT.write_text("mine\n")

    with pytest.raises(SeedflowError) as error:
        init()

    assert error.value.message == (
        "pipelines/images.yaml already exists; seedflow init never overwrites a file. Name a new "
        "file: `seedflow init pipelines/NAME.yaml`")
    assert DEFAULT.read_text() == "mine\n"


def test_include_and_exclude_work_when_uncommented(workdir: Path) -> None:
    init()
    text = re.sub(r"^(\s*)# ((?:exclude|include):|  - )", r"\1\2", DEFAULT.read_text(),
                  flags=re.MULTILINE)
    DEFAULT.write_text(text)

    addresses = [c.address for c in resolve(load_pipeline(DEFAULT))]

    assert "products[product.id=lamp, aspect=16:9, seed=1]" not in addresses
    assert "products[product.id=mug, aspect=9:16, seed=1]" in addresses
    assert len(addresses) == 4


def test_runs_with_no_key(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init()

    assert main(["apply", str(DEFAULT)]) == 0

    assert "4 done, 0 failed" in capsys.readouterr().out
    assert len(list(Path("assets/images/products").rglob("*.png"))) == 4
