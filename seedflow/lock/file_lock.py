"""One writer per lockfile: an OS lock (``flock``) on ``<lock>.lck`` that names its holder.

The guard file holds who has it (pid, host, command, since when), so a second writer fails at
once with a message saying so instead of waiting. The file is removed on release; after taking
the lock we check that it is still the file at that path (a holder may have just unlinked it),
otherwise two processes could each hold a lock on a different inode.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seedflow.errors import LockError


def refuse_symlink(path: Path, what: str) -> None:
    """A lockfile reached through a symbolic link is a second path to one file: two applies
    could each take "their" lock and pay twice. And a link planted in a pull request could aim
    seedflow's writes anywhere."""
    if path.is_symlink():
        raise LockError(f"{path} is a symbolic link (to {os.readlink(path)}); seedflow reads and "
                        f"writes a {what} only where it really is: pass that path instead")


def open_nofollow(path: Path, flags: int) -> int:
    """``os.open`` that refuses to follow a symbolic link at ``path`` (a clear LockError)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError(f"{path} is a symbolic link; seedflow never writes through one. "
                            "Remove it (seedflow creates this file itself; it is never "
                            "committed)") from None
        raise LockError(f"cannot open {path}: {exc.strerror}") from None


@contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """Hold the exclusive OS lock of the lockfile ``lock_path``, or raise a LockError naming
    whoever holds it."""
    guard = lock_path.with_name(lock_path.name + ".lck")
    refuse_symlink(lock_path, "lockfile")
    while True:
        fd = open_nofollow(guard, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise LockError(f"{lock_path} is in use by {holder or 'another process'}. Wait for "
                            "it to finish (one apply per lockfile at a time)") from None
        try:
            same = os.stat(guard).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        who = (f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv[:3])}, since "
               f"{time.strftime('%Y-%m-%d %H:%M:%S')})")
        os.pwrite(fd, who.encode(), 0)
        yield
    finally:
        guard.unlink(missing_ok=True)
        os.close(fd)
