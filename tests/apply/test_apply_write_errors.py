"""Outputs that cannot be written: found before anything is paid, or, when they break during
the run, that combination fails clearly (its task stays recorded) and the others go on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from applykit import Project, Run, wait_for

from seedflow.lock.model import State
from seedflow.sim import Simulator


def test_a_file_where_a_folder_should_be_is_refused_before_any_create(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run) -> None:
    sim = make_sim()
    env(sim)
    project.write(things=("mug",), seeds=(1,))
    (project.root / "out").mkdir()
    (project.root / "out" / "shots").write_text("a file, not a folder\n")

    result = seedflow("apply", "p.yaml", "--yes")

    assert result.code == 1
    assert result.err == (
        "error: 1 output paths cannot be written, so nothing was sent:\n"
        "  out/shots/mug-s1.png: out/shots is a file, not a folder\n"
        "Fix them (or output_dir) and run apply again\n")
    assert sim.counters.create_requests == 0
    assert (project.root / "out" / "shots").read_text() == "a file, not a folder\n"
    assert not project.lock.exists()


def test_a_write_that_breaks_during_the_run_fails_only_that_combination(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run) -> None:
    """A folder appears where an image should go while the task is generating: that task stays
    recorded (resumable, never paid again), the other combinations finish."""
    sim = make_sim(latency=0.3)
    env(sim)
    addresses = project.write(things=("mug", "lamp"), seeds=(1,))
    blocked = project.root / "out" / "shots" / "mug-s1.png"

    def block_once_both_are_paid() -> None:
        wait_for(lambda: sim.counters.creates == 2, what="both creates")
        blocked.mkdir(parents=True)

    blocker = threading.Thread(target=block_once_both_are_paid)
    blocker.start()
    result = seedflow("apply", "p.yaml", "--yes")
    blocker.join()

    assert result.code == 1, result.text
    assert "Traceback" not in result.text
    entries = project.entries()
    mug = next(a for a in addresses if "mug" in a)
    lamp = next(a for a in addresses if "lamp" in a)
    assert entries[mug].state is State.SUBMITTED          # recorded: the next apply resumes it
    assert entries[lamp].state is State.SUCCEEDED
    assert f"  {mug}: cannot write out/shots/mug-s1.png" in result.out
    assert sim.counters.creates == 2

    blocked.rmdir()
    again = seedflow("apply", "p.yaml", "--yes")
    assert again.code == 0, again.text
    assert sim.counters.creates == 2                      # resumed, not paid again
    assert Path(blocked).is_file()
