"""Checks of output files on disk (the plan's only I/O, injected into it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from seedflow.lock.model import LockedImage
from seedflow.plan import OutputCheck

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def presence_check(folder: Path) -> OutputCheck:
    """Cheap check for plans: the file exists with the recorded size."""

    def intact(path: str, image: LockedImage) -> bool:
        try:
            return (folder / path).stat().st_size == image.size
        except OSError:
            return False

    return intact


def hash_check(folder: Path) -> OutputCheck:
    """Thorough check (verify, apply, ``plan --check-hashes``): the recorded sha256 matches."""

    def intact(path: str, image: LockedImage) -> bool:
        try:
            return file_sha256(folder / path) == image.sha256
        except OSError:
            return False

    return intact
