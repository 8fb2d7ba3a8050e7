"""Shards on one machine write into one output folder at once (issue #13): the sweep of a killed
run's ``.part`` files must leave another live apply's downloads alone. A temporary file names
its writer's process id; only files of processes that are gone (or of versions that named none)
are swept."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from seedflow.apply import download
from seedflow.apply.files import OutputFiles
from seedflow.atomic import orphaned, temp_beside
from seedflow.outputs import OutputRoot


def _gone_pid() -> int:
    """The id of a process that has just exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_temp_file_names_its_writer(tmp_path: Path) -> None:
    fd, part = temp_beside(tmp_path / "mug.png")
    os.close(fd)
    assert f".mug.png.{os.getpid()}." in part.name and part.name.endswith(".part")
    assert not orphaned(part)


def test_only_files_of_processes_that_are_gone_are_orphaned(tmp_path: Path) -> None:
    alive = tmp_path / f".mug.png.{os.getppid()}.abc123.part"
    gone = tmp_path / f".mug.png.{_gone_pid()}.abc123.part"
    unnamed = tmp_path / ".mug.png.abc123.part"   # written before files named their writer
    assert [orphaned(p) for p in (alive, gone, unnamed)] == [False, True, True]


def test_the_sweep_leaves_another_live_apply_s_download(tmp_path: Path) -> None:
    out = tmp_path / "out" / "shots"
    out.mkdir(parents=True)
    theirs = out / f".lamp.png.{os.getppid()}.abc123.part"     # a shard beside us, writing
    leftover = out / f".vase.png.{_gone_pid()}.abc123.part"    # a killed run's
    for part in (theirs, leftover):
        part.write_bytes(b"half an image")
    files = OutputFiles(OutputRoot(tmp_path, tmp_path / "out"))

    files.target("out/shots/mug.png")

    assert theirs.exists() and not leftover.exists()


def test_a_download_cancelled_while_its_part_file_is_made_leaves_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``.part`` file is made in a worker thread: a download cancelled meanwhile (a stop, a
    deadline) closes and removes it once it is made, not when the process ends."""
    gate = threading.Event()
    make = download._open_part
    monkeypatch.setattr(download, "_open_part", lambda dest: (gate.wait(5), make(dest))[1])
    folder = tmp_path / "out"

    async def scenario() -> None:
        opening = asyncio.ensure_future(download._opened_part(folder / "mug.png"))
        await asyncio.sleep(0.05)
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        gate.set()
        for _ in range(500):   # until the thread has made the file and it was discarded
            await asyncio.sleep(0.01)
            if folder.exists() and not list(folder.iterdir()) and _open_fds() == before:
                return

    before = _open_fds()
    asyncio.run(scenario())
    assert folder.exists() and list(folder.iterdir()) == []
    assert _open_fds() == before


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
