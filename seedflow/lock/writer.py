"""Writing a lock: the only code that changes lockfiles on disk.

:class:`LockWriter` holds the lockfile's :func:`~seedflow.lock.file_lock.file_lock` for its
whole life, appends every change to the journal (:mod:`seedflow.lock.journal`) and folds the
journal into the lockfile with :meth:`LockWriter.compact` (temp file, fsync, ``os.replace``,
fsync of the folder, then the journal is emptied). A crash at any point leaves a lockfile that
loads: either the old one plus a journal to replay, or the new one (replaying the old journal
over it changes nothing).
"""

from __future__ import annotations

import contextlib
import glob
from collections.abc import Collection, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from seedflow import failpoints
from seedflow.atomic import write_atomic
from seedflow.lock.file_lock import file_lock
from seedflow.lock.format import lock_text
from seedflow.lock.journal import Journal, drop_event, put_event
from seedflow.lock.model import LockEntry
from seedflow.lock.read import read_lock


class LockWriter:
    """Exclusive writer of one lockfile: journal appends and compaction.

    The OS lock is taken *before* the lockfile is read, so what this writer sees cannot be
    changed under it by another apply.
    """

    def __init__(self, path: Path, *, only: Collection[str] | None = None) -> None:
        with ExitStack() as held:
            held.enter_context(file_lock(path))
            _sweep_temporary(path)
            self.lock = read_lock(path, only=only)
            self._journal = Journal(path)
            self._held = held.pop_all()  # released by close()
        self._batching = False

    def append(self, entries: Iterable[LockEntry]) -> None:
        """Make these entry states durable (one fsync for the whole batch)."""
        events = []
        for entry in entries:
            self.lock.entries[entry.fingerprint] = entry
            self.lock.unparsed.pop(entry.fingerprint, None)
            events.append(put_event(entry))
        self._write(events)

    def drop(self, fingerprints: Iterable[str]) -> None:
        events = []
        for fingerprint in fingerprints:
            self.lock.entries.pop(fingerprint, None)
            self.lock.unparsed.pop(fingerprint, None)
            events.append(drop_event(fingerprint))
        self._write(events)

    def _write(self, events: list[str]) -> None:
        if not events:
            return
        self._journal.write(events)
        self.lock.journal_events += len(events)
        if not self._batching:
            self._journal.sync()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several appends, one fsync at the end (group commit)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._journal.sync()

    def compact(self) -> None:
        """Fold the journal into the lockfile (atomically), then start a new journal."""
        write_atomic(self.lock.path, lock_text(self.lock.entries.values(), self.lock.unparsed))
        failpoints.hit("mid-compaction")  # new lockfile in place, old journal not yet emptied
        self._journal.clear()
        self.lock.journal_events = 0

    def close(self) -> None:
        self._journal.close()
        self._held.close()

    def __enter__(self) -> LockWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sweep_temporary(lock_path: Path) -> None:
    """Remove the temporary files of a compaction killed before its rename. Only the holder of
    the OS lock writes them, so any that exist now are stale."""
    with contextlib.suppress(OSError):
        for stale in lock_path.parent.glob(f".{glob.escape(lock_path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
