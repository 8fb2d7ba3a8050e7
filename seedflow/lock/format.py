"""Reading and writing lockfiles: the only code that touches them on disk.

Progress is written as an append-only journal (``<lock>.journal``, one JSON line per event,
fsync'd) and folded into the lockfile by :meth:`LockWriter.compact` (temp file, fsync,
``os.replace``, fsync of the folder, then the journal is removed). Appending costs the same
whatever the lock's size; a crash at any point leaves a lockfile that loads: either the old one
plus a journal to replay, or the new one (replaying the old journal over it changes nothing).

One writer per lockfile at a time: :class:`LockWriter` holds an OS lock (``flock``) on
``<lock>.lck`` and writes who holds it there, so a second ``apply`` can say so.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import socket
import sys
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import IO

from seedflow import __version__, failpoints
from seedflow.atomic import write_atomic
from seedflow.errors import LockError
from seedflow.lock.model import (
    FORMAT_VERSION,
    HEADER_KEY,
    EntryFormatError,
    LockEntry,
    entry_from_json,
    header_line,
    sort_key,
)

CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")


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


def journal_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".journal")


def read_lock(path: Path, *, only: Collection[str] | None = None) -> Lock:
    """Load a lockfile and replay its journal; a missing lockfile is an empty lock.

    With ``only`` (the fingerprints a run can touch), other entries are not parsed: their lines
    are kept as written and go back unchanged at compaction. An apply on a 100,000-entry lock
    then costs what it costs on an empty one. Conflict markers, the header and duplicate
    fingerprints are still checked on every line.
    """
    lock = Lock(path)
    if path.exists():
        lock.entries, lock.unparsed = _parse(_read_text(path), str(path), only)
    journal = journal_path(path)
    if journal.exists():
        lock.journal_events = _replay(_read_text(journal), str(journal), lock.entries,
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


def parse_lock(text: str, name: str) -> dict[str, LockEntry]:
    """Parse lockfile text; every way it can be wrong is a LockError naming the line."""
    return _parse(text, name, None)[0]


def _parse(text: str, name: str, only: Collection[str] | None,
           ) -> tuple[dict[str, LockEntry], dict[str, str]]:
    lines = text.splitlines()
    _check_conflicts(lines, name)
    if not lines:
        raise LockError(f"{name} is empty. A lockfile always has a header line; restore it from "
                        "git, or delete it only if you mean to regenerate everything (paid)")
    _check_header(lines[0], name)
    entries: dict[str, LockEntry] = {}
    unparsed: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fingerprint = _leading_fingerprint(line) if only is not None else None
        skip = fingerprint is not None and only is not None and fingerprint not in only
        if not skip:
            entry = _parse_entry(line, name, number)
            fingerprint = entry.fingerprint
        assert fingerprint is not None
        if fingerprint in entries or fingerprint in unparsed:
            raise LockError(f"{name}:{number}: fingerprint {fingerprint} appears twice; "
                            "restore the lockfile from git, or delete the line of the older task")
        if skip:
            unparsed[fingerprint] = line
        else:
            entries[fingerprint] = entry
    return entries, unparsed


_LEAD = '{"fingerprint":"'
_ADDRESS = '","address":"'
_HEX = frozenset("0123456789abcdef")


def _leading_fingerprint(line: str) -> str | None:
    """The fingerprint of a line seedflow wrote (fingerprint first, then address), unparsed."""
    if line.startswith(_LEAD) and line.startswith(_ADDRESS, 48):
        fingerprint = line[16:48]
        if _HEX.issuperset(fingerprint):
            return fingerprint
    return None


def _raw_sort_key(fingerprint: str, line: str) -> tuple[str, str]:
    """An unparsed line's place in the file: its address (decoded alone), then fingerprint."""
    address, _ = scanstring(line, 48 + len(_ADDRESS))
    return (address, fingerprint)


def _check_conflicts(lines: list[str], name: str) -> None:
    for number, line in enumerate(lines, start=1):
        if line.startswith(CONFLICT_MARKERS):
            raise LockError(
                f"{name}:{number}: the lockfile has git merge conflict markers. Redo the merge "
                "with seedflow's merge driver (docs/ci.md, \"A lockfile that already has "
                "conflict markers\"), which combines both sides' entries, then run plan again")


def _check_header(line: str, name: str) -> None:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or HEADER_KEY not in header:
        raise LockError(f"{name}:1: not a seedflow lockfile (no `{HEADER_KEY}` header). "
                        "Is --lock pointing at the right file?")
    version = header[HEADER_KEY]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LockError(f"{name}:1: unknown lockfile format {version!r}")
    if version > FORMAT_VERSION:
        raise LockError(f"{name}:1: lockfile format {version} was written by a newer seedflow "
                        f"(this one reads format {FORMAT_VERSION}); upgrade seedflow")


def _parse_entry(line: str, name: str, number: int) -> LockEntry:
    try:
        return entry_from_json(json.loads(line))
    except json.JSONDecodeError as exc:
        raise LockError(f"{name}:{number}: not valid JSON ({exc.msg}); the lockfile is corrupt. "
                        "Restore it from git rather than deleting it") from None
    except EntryFormatError as exc:
        raise LockError(f"{name}:{number}: invalid entry: {exc}") from None


def _replay(text: str, name: str, entries: dict[str, LockEntry],
            unparsed: dict[str, str]) -> int:
    lines = text.split("\n")
    torn = lines.pop()  # text after the last newline: a write cut short by a crash
    events = 0
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
            _apply_event(event, entries, unparsed)
        except (json.JSONDecodeError, EntryFormatError, KeyError, TypeError) as exc:
            raise LockError(f"{name}:{number}: unreadable journal event ({exc}); the journal "
                            "is corrupt. Move it aside and run `seedflow plan` to see what is "
                            "lost") from None
        events += 1
    del torn  # never acknowledged as durable, so never acted upon
    return events


def _apply_event(event: dict[str, object], entries: dict[str, LockEntry],
                 unparsed: dict[str, str]) -> None:
    if "put" in event:
        entry = entry_from_json(event["put"])
        entries[entry.fingerprint] = entry
        unparsed.pop(entry.fingerprint, None)
    elif "drop" in event:
        entries.pop(str(event["drop"]), None)
        unparsed.pop(str(event["drop"]), None)
    else:
        raise KeyError("put or drop")


def _drop_torn_tail(path: Path, journal: IO[str]) -> None:
    """Cut a last line that a crash left without its newline (replay ignores it), so the next
    append starts a line of its own instead of being glued onto the fragment. The journal is
    small (compaction empties it) and was just read in full by the replay."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep != len(data):
        os.ftruncate(journal.fileno(), keep)
        os.fsync(journal.fileno())


def lock_text(entries: Iterable[LockEntry], unparsed: Mapping[str, str] | None = None) -> str:
    """The canonical file: header, then one line per entry sorted by address, fingerprint.
    ``unparsed`` lines (see read_lock) are written back exactly as they were read."""
    rows = [(sort_key(e), e.line()) for e in entries]
    rows += [(_raw_sort_key(fp, line), line) for fp, line in (unparsed or {}).items()]
    rows.sort(key=lambda row: row[0])
    return "\n".join([header_line(__version__), *(line for _, line in rows)]) + "\n"


class LockWriter:
    """Exclusive writer of one lockfile: journal appends and compaction.

    The OS lock is taken *before* the lockfile is read, so what this writer sees cannot be
    changed under it by another apply.
    """

    def __init__(self, path: Path, *, only: Collection[str] | None = None) -> None:
        self._guard = _acquire(path)
        try:
            _sweep_temporary(path)
            self.lock = read_lock(path, only=only)
        except BaseException:
            _release(path, self._guard)
            raise
        self._journal = open(journal_path(path), "a", encoding="utf-8")  # noqa: SIM115
        _drop_torn_tail(journal_path(path), self._journal)
        self._batching = False

    def append(self, entries: Iterable[LockEntry]) -> None:
        """Make these entry states durable (one fsync for the whole batch)."""
        lines = []
        for entry in entries:
            self.lock.entries[entry.fingerprint] = entry
            self.lock.unparsed.pop(entry.fingerprint, None)
            lines.append(json.dumps({"put": entry.to_json()}, ensure_ascii=False,
                                    separators=(",", ":")))
        self._write(lines)

    def drop(self, fingerprints: Iterable[str]) -> None:
        lines = []
        for fingerprint in fingerprints:
            self.lock.entries.pop(fingerprint, None)
            self.lock.unparsed.pop(fingerprint, None)
            lines.append(json.dumps({"drop": fingerprint}))
        self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        self._journal.write("\n".join(lines) + "\n")
        self.lock.journal_events += len(lines)
        if not self._batching:
            self._sync()

    def _sync(self) -> None:
        self._journal.flush()
        os.fsync(self._journal.fileno())

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several appends, one fsync at the end (group commit)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._sync()

    def compact(self) -> None:
        """Fold the journal into the lockfile (atomically), then start a new journal."""
        write_atomic(self.lock.path, lock_text(self.lock.entries.values(), self.lock.unparsed))
        failpoints.hit("mid-compaction")  # new lockfile in place, old journal not yet emptied
        self._journal.truncate(0)
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self.lock.journal_events = 0

    def close(self) -> None:
        self._journal.close()
        if journal_path(self.lock.path).stat().st_size == 0:
            journal_path(self.lock.path).unlink()
        _release(self.lock.path, self._guard)

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


def _guard_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".lck")


def _acquire(lock_path: Path) -> int:
    """Take the OS lock on ``<lock>.lck``. The file is removed on release, so after locking we
    check that it is still the file at that path (a holder may have just unlinked it);
    otherwise two processes could each hold a lock on a different inode."""
    guard = _guard_path(lock_path)
    while True:
        fd = os.open(guard, os.O_RDWR | os.O_CREAT, 0o644)
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
    os.ftruncate(fd, 0)
    who = (f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv[:3])}, since "
           f"{time.strftime('%Y-%m-%d %H:%M:%S')})")
    os.pwrite(fd, who.encode(), 0)
    return fd


def _release(lock_path: Path, fd: int) -> None:
    _guard_path(lock_path).unlink(missing_ok=True)
    os.close(fd)
