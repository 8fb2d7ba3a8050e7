"""Files written whole or not at all: a temp file beside the target, fsync, rename, fsync dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# What open() would have given; mkstemp alone makes 0600 files, a surprise for images and locks.
FILE_MODE = 0o666 & ~_umask()


def temp_beside(dest: Path, suffix: str = ".part") -> tuple[int, Path]:
    """A new hidden temp file in ``dest``'s folder (same filesystem, so the rename is atomic),
    named ``.NAME.PID.XXXX`` + ``suffix``: the writer's process id tells a leftover of a killed
    run from a file another process (a shard beside this one) is writing (:func:`orphaned`)."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=suffix,
                                dir=dest.parent)
    os.fchmod(fd, FILE_MODE)
    return fd, Path(name)


def orphaned(temp: Path) -> bool:
    """Whether a :func:`temp_beside` file was left by a process that is gone (or by a version
    that did not name its writer): one that is still running on this machine may be writing it."""
    parts = temp.name.removesuffix(temp.suffix).rsplit(".", 2)   # "", NAME, PID, XXXX
    writer = parts[-2] if len(parts) == 3 else ""
    if not writer.isdigit():
        return True
    if int(writer) == os.getpid():
        return False
    try:
        os.kill(int(writer), 0)
    except ProcessLookupError:
        return True
    except OSError:   # alive, someone else's
        return False
    return False


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``."""
    fd, tmp = temp_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
