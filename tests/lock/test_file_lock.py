"""file_lock alone: one holder per lockfile, across processes; the guard names its holder and
goes away on release."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from seedflow.lock.file_lock import file_lock

TRY = """\
import sys
from pathlib import Path
from seedflow.errors import LockError
from seedflow.lock.file_lock import file_lock
try:
    with file_lock(Path(sys.argv[1])):
        print("acquired")
except LockError as exc:
    print(exc.message)
"""


def from_another_process(lock: Path) -> str:
    """What another process gets when it tries to take the lock."""
    return subprocess.run([sys.executable, "-c", TRY, str(lock)], capture_output=True,
                          text=True, check=True, timeout=60).stdout.strip()


def test_a_second_holder_is_refused_with_the_holders_text() -> None:
    lock = Path("x.lock")
    with file_lock(lock):
        holder = Path("x.lock.lck").read_text()
        assert re.fullmatch(rf"pid {os.getpid()} on {re.escape(socket.gethostname())} \(.*, "
                            r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)", holder)
        assert from_another_process(lock) == (f"x.lock is in use by {holder}. Wait for it to "
                                              "finish (one apply per lockfile at a time)")
    assert not Path("x.lock.lck").exists()
    assert from_another_process(lock) == "acquired"
    assert not Path("x.lock.lck").exists()


def test_the_guard_is_removed_when_the_holder_fails() -> None:
    with pytest.raises(RuntimeError), file_lock(Path("x.lock")):
        raise RuntimeError("boom")
    assert sorted(os.listdir()) == []
