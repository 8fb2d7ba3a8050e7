"""A local cache of output files' sha256, keyed by what ``stat`` says (as git's index and DVC
keep), so a plan of 100,000 files hashes only the files that changed since it last looked.

The cache lives beside the lockfile (``<lock>.stat``), is never committed (add ``*.lock.stat``
to .gitignore) and is always safe to delete: a missing or unreadable cache only costs hashing
again. An entry counts only while the file's size, mtime, ctime and inode are the ones it was
hashed with; ctime cannot be set by hand, so a copied or forged cache file matches nothing.

Format: a header line, then one line per file: ``sha256 size mtime_ns ctime_ns inode path``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from seedflow.atomic import write_atomic

HEADER = "seedflow-stat-cache 1"
MAX_BYTES = 64 * 2**20          # a larger file is ignored (and rewritten), never read whole
Key = tuple[int, int, int, int]   # size, mtime_ns, ctime_ns, inode


def stat_key(st: os.stat_result) -> Key:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def cache_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".stat")


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        # stored path → "sha256 size mtime_ns ctime_ns inode", its line as written: one string
        # holds a million files in a third of the memory tuples of numbers take
        self.known: dict[str, str] = _load(path)
        self.dirty = False

    def sha256(self, stored: str, key: Key) -> str | None:
        """The digest hashed for this path while it had this ``stat``, if any."""
        found = self.known.get(stored)
        if found is None or found[65:] != _key_text(key):
            return None
        return found[:64]

    def sha256_of(self, stored: str, st: os.stat_result) -> str | None:
        """:meth:`sha256` of the key of ``st`` (``stat_key``), without building it."""
        found = self.known.get(stored)
        if found is None:
            return None
        key = f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"
        return found[:64] if len(found) == 65 + len(key) and found.endswith(key) else None

    def remember(self, stored: str, key: Key, sha256: str) -> None:
        record = f"{sha256} {_key_text(key)}"
        if self.known.get(stored) != record:
            self.known[stored] = record
            self.dirty = True

    def save(self) -> None:
        """Write the cache if it changed; a cache that cannot be written is simply not kept."""
        if not self.dirty or self.path.is_symlink():
            return
        lines = [HEADER, *(f"{record} {stored}" for stored, record in sorted(self.known.items()))]
        with contextlib.suppress(OSError):
            write_atomic(self.path, "\n".join(lines) + "\n")
            self.dirty = False


def _key_text(key: Key) -> str:
    return f"{key[0]} {key[1]} {key[2]} {key[3]}"


def _load(path: Path) -> dict[str, str]:
    try:
        if path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return {}
        # line by line (a plan reads it while it holds everything else): the lines read_text
        # and split("\n") would give, the text never held whole
        with path.open(encoding="utf-8") as text:
            if text.readline().removesuffix("\n") != HEADER:
                return {}
            return _records(text)
    except (OSError, UnicodeDecodeError):
        return {}


def _records(lines: Iterable[str]) -> dict[str, str]:
    known: dict[str, str] = {}
    for line in lines:
        line = line.removesuffix("\n")
        parts = line.split(" ", 5)
        if len(parts) != 6 or len(parts[0]) != 64:
            continue
        # kept as text: only numbers written as seedflow writes them can ever match a stat
        known[parts[5]] = line[:len(line) - len(parts[5]) - 1]
    return known
