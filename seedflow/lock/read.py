"""Reading a lock: the lockfile's entries with its journal replayed (read-only; no lock taken).

Commands that only look (plan, verify, gallery) call :func:`read_lock`; those that write go
through :class:`seedflow.lock.writer.LockWriter`, which reads the lock the same way once it
holds the file lock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from seedflow.errors import LockError
from seedflow.lock.file_lock import refuse_symlink
from seedflow.lock.format import parse_entries
from seedflow.lock.journal import journal_path, replay
from seedflow.lock.model import LockEntry


@dataclass
class Lock:
    """A lockfile's entries by fingerprint, with any journal already replayed."""

    path: Path
    entries: dict[str, LockEntry] = field(default_factory=dict)
    journal_events: int = 0
    # lines read but not parsed (fingerprint → original text): see read_lock(only=...)
    unparsed: dict[str, str] = field(default_factory=dict)

    def get(self, fingerprint: str) -> LockEntry | None:
        return self.entries.get(fingerprint)


def read_lock(path: Path, *, only: Collection[str] | None = None) -> Lock:
    """Load a lockfile and replay its journal; a missing lockfile is an empty lock.

    With ``only`` (the fingerprints a run can touch), other entries are not parsed: their lines
    are kept as written and go back unchanged at compaction. An apply on a 100,000-entry lock
    then costs what it costs on an empty one. Conflict markers, the header and duplicate
    fingerprints are still checked on every line.
    """
    lock = Lock(path)
    journal = journal_path(path)
    refuse_symlink(path, "lockfile")
    refuse_symlink(journal, "journal")
    if path.exists():
        lock.entries, lock.unparsed = parse_entries(_read_text(path), str(path), only=only)
    if journal.exists():
        lock.journal_events = replay(_read_text(journal), str(journal), lock.entries,
                                     lock.unparsed)
    return lock


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LockError(f"{path} is not UTF-8 text: the lockfile is corrupt. Restore it from "
                        "git (`git checkout -- FILE`) rather than deleting it") from None
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror}") from None
