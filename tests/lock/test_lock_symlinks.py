"""Symbolic links beside the lock, as a pull request can commit them (``git add -f``): seedflow
writes through none of them, and a lock reached by a second path cannot be held twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corekit import Run, WritePipeline

PIPELINE = """\
    version: 1
    provider: sim
    assets:
      a:
        prompt: "a photo {{ n }}"
        output: "out/{{ n }}.png"
        matrix:
          n: [1, 2]
"""


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """A file outside the project that a planted link points at (think ~/.git-credentials)."""
    target = tmp_path.parent / f"{tmp_path.name}-outside" / "credentials"
    target.parent.mkdir()
    target.write_text("https://user:token@example.com\n")
    return target


@pytest.mark.parametrize("planted", ["p.lock.lck", "p.lock.journal", "p.lock"])
def test_apply_refuses_a_planted_link_and_changes_nothing(
        write_pipeline: WritePipeline, run: Run, precious: Path, planted: str) -> None:
    write_pipeline(PIPELINE)
    os.symlink(precious, planted)

    result = run("apply", "p.yaml", "--yes")

    assert result.code == 1, result.text
    assert f"{planted} is a symbolic link" in result.err
    assert "Traceback" not in result.text
    assert precious.read_text() == "https://user:token@example.com\n"
    assert Path(planted).is_symlink() or planted == "p.lock.lck"
    assert not Path("out").exists()


def test_a_lock_reached_through_a_link_is_refused(write_pipeline: WritePipeline,
                                                  run: Run) -> None:
    """Otherwise `--lock alias.lock` takes the OS lock of alias.lock.lck while another apply
    holds p.lock.lck: two applies on one lockfile, each paying for the same combinations."""
    write_pipeline(PIPELINE)
    assert run("apply", "p.yaml", "--yes").code == 0
    os.symlink("p.lock", "alias.lock")
    before = Path("p.lock").read_bytes()

    result = run("apply", "p.yaml", "--lock", "alias.lock", "--yes")

    assert (result.code, result.err) == (1, "error: alias.lock is a symbolic link (to p.lock); "
                                            "seedflow reads and writes a lockfile only where it "
                                            "really is: pass that path instead\n")
    assert Path("p.lock").read_bytes() == before
