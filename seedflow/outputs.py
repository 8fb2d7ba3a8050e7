"""Checks of output files on disk (the plan's only I/O, injected into it)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from seedflow.lock.model import LockedImage
from seedflow.plan.diff import OutputCheck

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` resolves (symlinks followed) inside ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def presence_check(folder: Path, output_dir: Path) -> OutputCheck:
    """Cheap check for plans: the file exists with the recorded size.

    Only files inside output_dir count: a lockfile arrives in pull requests too, and a path in
    it must never make seedflow read (and copy) a file from elsewhere. This check reads no file
    content, so a lexical containment test is enough here (resolving every path's symlinks cost
    seconds at 100,000 files); the hash check, which does read, resolves them.
    """
    root = os.path.join(os.path.normpath(os.path.abspath(output_dir)), "")
    base = os.path.abspath(folder)

    def intact(path: str, image: LockedImage) -> bool:
        target = os.path.normpath(os.path.join(base, path))
        if not target.startswith(root):
            return False
        try:
            return os.stat(target).st_size == image.size
        except OSError:
            return False

    return intact


def hash_check(folder: Path, output_dir: Path) -> OutputCheck:
    """Thorough check (verify, apply, ``plan --check-hashes``): the recorded sha256 matches."""

    def intact(path: str, image: LockedImage) -> bool:
        target = folder / path
        try:
            return inside(output_dir, target) and file_sha256(target) == image.sha256
        except OSError:
            return False

    return intact
