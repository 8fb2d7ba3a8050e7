"""Outputs that cannot be written: found before anything is paid, or, when they break during
the run, that combination fails clearly (its task stays recorded) and the others go on."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from applykit import Project, Run, subprocess_env, wait_for

from seedflow.lock.model import State
from seedflow.sim import Simulator

FITS = 2048   # bytes: a journal event fits, a generated PNG does not


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


def test_a_full_disk_during_downloads_fails_clearly_and_loses_no_paid_task(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run) -> None:
    """The file-size limit stands in for a full disk: every image write fails (EFBIG, as
    ENOSPC would), small writes (the journal) still fit. The paid tasks stay recorded; once
    there is room, the next apply collects them without paying again."""
    sim = make_sim()
    variables = env(sim)
    addresses = project.write(things=("mug", "lamp"), seeds=(1,))

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (FITS, FITS))

    result = subprocess.run([sys.executable, "-m", "seedflow", "apply", "p.yaml", "--yes"],
                            cwd=project.root, env=subprocess_env(variables), text=True,
                            capture_output=True, preexec_fn=full_disk, timeout=60)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "File too large" in result.stdout
    assert {e.state for e in project.entries().values()} == {State.SUBMITTED}
    assert sim.counters.creates == len(addresses)

    again = seedflow("apply", "p.yaml", "--yes")
    assert again.code == 0, again.text
    assert sim.counters.creates == len(addresses)            # collected, not paid again
    project.assert_intact(addresses)
