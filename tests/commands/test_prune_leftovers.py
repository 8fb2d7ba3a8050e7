"""Every file seedflow wrote has a way out, and counts agree between plan, apply and prune."""

from __future__ import annotations

from pathlib import Path

import pytest
from reviewkit import Write, apply

from seedflow.cli import main


def test_apply_counts_orphans_as_plan_does(write: Write,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup", "lamp"), seeds=(1, 2))
    apply(pipeline, "--yes")
    write(things=("cup",), seeds=(1, 2))          # the lamps leave the spec: 2 orphans
    capsys.readouterr()

    assert main(["plan", str(pipeline)]) == 0
    planned = capsys.readouterr().out.splitlines()[-1]
    assert main(["apply", str(pipeline), "--yes"]) == 0
    applied = capsys.readouterr().out.splitlines()[0]

    assert planned == ("Plan: 0 to create, 0 to resume, 0 to restore, 0 to relink, "
                       "2 orphaned, 2 unchanged.")
    assert applied == f"Nothing to do. {planned}"


def test_prune_files_removes_the_copies_relinks_left_and_their_empty_folders(
        write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup",), seeds=(1, 2))
    apply(pipeline, "--yes")
    text = pipeline.read_text().replace('output: "shots/', 'output: "moved/')
    pipeline.write_text(text)
    apply(pipeline, "--yes")                       # relink: copies to assets/moved/
    old = sorted(Path("assets/shots").iterdir())
    assert [p.name for p in old] == ["cup-1.png", "cup-2.png"]
    kept = {p.name: p.read_bytes() for p in Path("assets/moved").iterdir()}
    capsys.readouterr()

    assert main(["prune", str(pipeline), "--files", "--yes"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Copies that relinks left behind (nothing uses them):"
    assert out[1] == ("      delete  assets/shots/cup-1.png  (a copy of shots[thing=cup, seed=1], "
                      "which the lock keeps at assets/moved/cup-1.png)")
    assert not Path("assets/shots").exists()       # the emptied folder went too
    assert {p.name: p.read_bytes() for p in Path("assets/moved").iterdir()} == kept
    assert main(["verify", str(pipeline)]) == 0
    assert main(["prune", str(pipeline), "--files"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "No orphans. No stale copies."


def test_a_copy_is_kept_when_the_locked_file_is_not_intact(
        write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    """A "stale copy" is deleted only while the lock's own copy is there, byte for byte."""
    pipeline = write(things=("cup",), seeds=(1,))
    apply(pipeline, "--yes")
    pipeline.write_text(pipeline.read_text().replace('output: "shots/', 'output: "moved/'))
    apply(pipeline, "--yes")
    Path("assets/moved/cup-1.png").write_bytes(b"retouched")
    capsys.readouterr()

    assert main(["prune", str(pipeline), "--files", "--yes"]) == 0

    assert Path("assets/shots/cup-1.png").exists()
    assert capsys.readouterr().out == "No orphans. No stale copies.\n"


def test_pruning_orphans_with_their_files_leaves_no_empty_folder(
        write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup",), seeds=(1,),
                     extra=('  extra:\n    prompt: "x"\n    output: "gone/deep/x.png"\n'))
    apply(pipeline, "--yes")
    assert Path("assets/gone/deep/x.png").is_file()
    write(things=("cup",), seeds=(1,))

    assert main(["prune", str(pipeline), "--files", "--yes"]) == 0

    assert not Path("assets/gone").exists()
    assert Path("assets/shots/cup-1.png").is_file()
