"""OutputRoot: the one owner of "inside output_dir" (read, write) and of how paths are shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seedflow.outputs import OutputRoot, OutsideOutputDir


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OutputRoot:
    """A pipeline in proj/pipelines with output_dir proj/assets; the current directory proj."""
    (tmp_path / "proj" / "pipelines").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "proj")
    return OutputRoot(Path("pipelines"), (tmp_path / "proj" / "assets").absolute())


def test_stored_paths_are_relative_to_the_pipeline_and_shown_from_here(root: OutputRoot) -> None:
    assert root.prefix == "../assets"
    assert root.shown("../assets/a/1.png") == "assets/a/1.png"
    assert root.contains("../assets/a/1.png")
    assert not root.contains("../assets/../.git/config")
    assert not root.contains("../elsewhere/1.png")


def test_a_planted_symlink_inside_output_dir_cannot_lead_a_write_outside(
        root: OutputRoot, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    Path("assets").mkdir()
    os.symlink(outside, "assets/a")

    with pytest.raises(OutsideOutputDir) as error:
        root.writable("../assets/a/1.png")

    assert "resolves outside output_dir" in error.value.message
    assert not root.holds("../assets/a/1.png")
    assert root.write_problem("../assets/a/1.png") == "assets/a resolves outside output_dir"
    assert list(outside.iterdir()) == []


def test_write_problems_are_found_without_creating_anything(root: OutputRoot) -> None:
    assert root.write_problem("../assets/new/deep/1.png") is None   # folders come later
    assert not Path("assets").exists()
    Path("assets").write_text("a file")
    assert root.write_problem("../assets/x/1.png") == "assets is a file, not a folder"
    Path("assets").unlink()
    Path("assets/1.png").mkdir(parents=True)
    assert root.write_problem("../assets/1.png") == "a folder is in the way"
    assert root.write_problem("../outside.png") == "outside output_dir"
