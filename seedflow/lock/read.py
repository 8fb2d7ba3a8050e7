"""Reading a lock: the lockfile's entries with its journal replayed (read-only; no lock taken).

Commands that only look (plan, verify, gallery) call :func:`read_lock`; those that write go
through :class:`seedflow.lock.writer.LockWriter`, which reads the lock the same way once it
holds the file lock.

``read_lock(path, only=..., keep_unread=False)`` (plan) streams the lockfile instead of holding
it: every line is checked as a full read checks it, the entries in ``only`` are built, and the
others are only counted (:class:`Unread`), so memory does not grow with a lock's history.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from seedflow.errors import LockError
from seedflow.lock.decode import (
    EntryBrief,
    Named,
    brief_from_line,
    brief_of,
    check_line,
    entry_from_line,
    lean_entry,
)
from seedflow.lock.file_lock import open_nofollow, refuse_symlink
from seedflow.lock.format import (
    CONFLICT_MARKERS,
    check_header,
    conflict_error,
    empty_error,
    entry_error,
    leading_fingerprint,
    parse_entries,
    twice_error,
)
from seedflow.lock.journal import journal_path, replay
from seedflow.lock.model import EntryFormatError, LockEntry, decode_line

CHUNK = 1 << 20   # characters read at a time by the streaming reader


@dataclass
class Lock:
    """A lockfile's entries by fingerprint, with any journal already replayed."""

    path: Path
    entries: dict[str, LockEntry] = field(default_factory=dict)
    journal_events: int = 0
    # lines read but not parsed (fingerprint → original text): see read_lock(only=...)
    unparsed: dict[str, str] = field(default_factory=dict)
    # lines checked but neither parsed nor kept: see read_lock(keep_unread=False)
    unread: Unread = field(default_factory=lambda: Unread(None, frozenset(), 0, ()))

    def get(self, fingerprint: str) -> LockEntry | None:
        return self.entries.get(fingerprint)


def read_lock(path: Path, *, only: Collection[str] | Mapping[str, Named] | None = None,
              keep_unread: bool = True) -> Lock:
    """Load a lockfile and replay its journal; a missing lockfile is an empty lock.

    With ``only`` (the fingerprints a run can touch), other entries are not parsed: their lines
    are kept as written and go back unchanged at compaction. An apply on a 100,000-entry lock
    then costs what it costs on an empty one. Conflict markers, the header and duplicate
    fingerprints are still checked on every line. With ``keep_unread=False`` as well (read-only
    commands), those lines are checked in full but not kept: :attr:`Lock.unread` counts them and
    reads their entries from the file again when iterated; an ``only`` that maps fingerprints
    to combinations then lends each entry their fingerprint and address strings where they are
    the same (a plan's own entries hold no second copy of them).
    """
    lock = Lock(path)
    journal = journal_path(path)
    refuse_symlink(path, "lockfile")
    refuse_symlink(journal, "journal")
    if path.exists() and only is not None and not keep_unread:
        return _streamed(lock, frozenset(only), journal,
                         only if isinstance(only, Mapping) else {})
    if path.exists():
        lock.entries, lock.unparsed = parse_entries(_read_text(path), str(path), only=only)
    if journal.exists():
        lock.journal_events = replay(_read_text(journal), str(journal), lock.entries,
                                     lock.unparsed)
    return lock


def _streamed(lock: Lock, wanted: frozenset[str], journal: Path,
              named: Mapping[str, Named]) -> Lock:
    """read_lock(only=wanted, keep_unread=False): the lines the journal names are parsed too,
    so it replays over them; what is not wanted goes to :class:`Unread`, in the order a full
    read would have it."""
    unreadable = None
    try:
        journal_text = _read_text(journal) if journal.exists() else None
    except LockError as exc:   # raised after the lockfile's own errors, as a full read does
        journal_text, unreadable = None, exc
    named_there = _journal_fingerprints(journal_text or "")
    parse = wanted | named_there if named_there else wanted
    read, count, identity = _skim(lock.path, parse, lean=named or dict.fromkeys(wanted))
    if unreadable is not None:
        raise unreadable
    if journal_text is None and read.keys() <= wanted:   # nothing to replay or set aside
        lock.entries = read
        lock.unread = Unread(lock.path, parse if count else frozenset(), count, identity)
        return lock
    entries = _Replayed(read)
    if journal_text is not None:
        lock.journal_events = replay(journal_text, str(journal), entries, {})
    lock.entries = {fp: entry for fp, entry in entries.items() if fp in wanted}
    others = {fp: entry for fp, entry in entries.items() if fp not in wanted}
    # An entry the journal dropped and put again is last in a full read's dict, as a new one.
    placed = {fp for fp in others if fp in read and fp not in entries.dropped}
    # which lines were built matters only where there is something to read again
    lock.unread = Unread(lock.path, parse if count or others else frozenset(), count, identity,
                         others, placed)
    return lock


class _Replayed(dict[str, LockEntry]):
    """Entries that remember which ones a replayed journal dropped (a dict forgets where a
    dropped key was: put again, it goes last)."""

    def __init__(self, entries: dict[str, LockEntry]) -> None:
        super().__init__(entries)
        self.dropped: set[str] = set()

    def pop(self, key: str, default: Any = None) -> Any:
        self.dropped.add(key)
        return super().pop(key, default)


class Unread:
    """The entries of a lock that :func:`read_lock` did not keep: those it never built (the
    lines it only checked, read again from the same file when iterated, which is refused if the
    file changed since) and those it built but the caller does not want (``others``: lines not
    laid out as seedflow writes them, entries the journal changed). Iteration gives them all
    in the order of a full read's entries."""

    def __init__(self, path: Path | None, parsed: Collection[str], count: int,
                 identity: tuple[int, ...], others: dict[str, LockEntry] | None = None,
                 in_place: Collection[str] = ()) -> None:
        self.path = path
        self.parsed = parsed          # fingerprints of the lines built (not read again)
        self.count = count            # lines only checked
        self.identity = identity
        self.others = others or {}
        self.in_place = in_place      # those of ``others`` at their line's place

    def __len__(self) -> int:
        return self.count + len(self.others)

    def __iter__(self) -> Iterator[LockEntry]:
        name = str(self.path)
        for number, line, built in self._walk():
            yield built if built is not None else _entry(line, name, number)

    def briefs(self) -> Iterator[EntryBrief]:
        """What a plan lists of each (its request as the JSON text read), 3× faster."""
        for _, line, built in self._walk():
            yield brief_of(built) if built is not None else brief_from_line(line)

    def _walk(self) -> Iterator[tuple[int, str, LockEntry | None]]:
        """(number, line, None) for each line only checked, ("", 0, entry) for the others."""
        if self.path is not None and len(self):
            name = str(self.path)
            with _open(self.path) as text:
                if _identity(text) != self.identity:
                    raise LockError(f"{name} changed while seedflow was reading it; run the "
                                    "command again")
                for number, line in _numbered(text, name):
                    if number == 1 or not line.strip():
                        continue
                    fingerprint = leading_fingerprint(line)
                    if fingerprint is None:   # laid out otherwise: it was parsed
                        fingerprint = _entry(line, name, number).fingerprint
                    elif fingerprint not in self.parsed:
                        yield number, line, None
                        continue
                    if fingerprint in self.in_place:
                        yield number, "", self.others[fingerprint]
        for fingerprint, entry in self.others.items():
            if fingerprint not in self.in_place:
                yield 0, "", entry


_NO_LEAN: Mapping[str, Named | None] = {}


def _skim(path: Path, wanted: Collection[str], lean: Mapping[str, Named | None] = _NO_LEAN
          ) -> tuple[dict[str, LockEntry], int, tuple[int, ...]]:
    """The entries in ``wanted`` (and lines not laid out as seedflow writes them), the number
    of the other entry lines, and the file's identity. Every line is checked as
    :func:`parse_entries` checks it, and the error it would raise first is the one raised.
    Entries in ``lean`` keep their request as its text (decode.lean_entry), and take the
    strings of the combination it maps them to where theirs are the same."""
    name = str(path)
    skim = _Skim(name, wanted, lean)
    with _open(path) as text:
        identity = _identity(text)
        for number, lines in _chunks(text, name):   # not UTF-8: raised first, as read_text
            skim.take(number, lines)
    skim.raise_first(path)
    return skim.entries, skim.count, identity


class _Skim:
    """What :func:`_skim` found in the lines read so far."""

    def __init__(self, name: str, wanted: Collection[str],
                 lean: Mapping[str, Named | None]) -> None:
        self.name = name
        self.sets = (wanted, lean)
        self.entries: dict[str, LockEntry] = {}
        # the fingerprints of the lines only checked, hashed to 64 bits: duplicates, later
        self.keys = array("q")
        self.count = 0   # lines only checked
        self.lines = 0
        self.first: tuple[int, LockError] | None = None
        self.conflict: LockError | None = None

    def take(self, start: int, lines: list[str]) -> None:
        """Lines ``start``, ``start + 1``, ...: the fast way where :meth:`_took` can, else as
        :meth:`_line` does."""
        going = self.first is None and self.conflict is None
        for number, line in enumerate(lines, start):
            if not (going and number > 1 and self._took(line)):
                going = self._line(number, line)
        self.lines += len(lines)

    def _took(self, line: str) -> bool:
        """Take a line laid out as seedflow writes it (so no conflict marker): build it lean if
        ``lean`` has it, only check it if it is not wanted. False leaves the line to
        :meth:`_line`: any other line, one lean_entry leaves, a duplicate, a wrong line (whose
        error _line raises)."""
        fingerprint = leading_fingerprint(line)
        if fingerprint is None:
            return False
        wanted, lean = self.sets
        if fingerprint in lean:
            entry = lean_entry(line, lean[fingerprint])
            if entry is None or entry.fingerprint in self.entries:
                return False
            self.entries[entry.fingerprint] = entry
            return True
        if fingerprint in wanted or not _passes(line):
            return False
        self.keys.append(hash(fingerprint))
        self.count += 1
        return True

    def _line(self, number: int, line: str) -> bool:
        """Check a line as parse_entries does (conflict markers first); False once something
        is wrong."""
        if self.conflict is None and line.startswith(CONFLICT_MARKERS):
            self.conflict = conflict_error(self.name, number)
        if self.first is not None or self.conflict is not None:
            return False   # what is wrong first is known; conflict markers still come before
        try:
            if number == 1:
                check_header(line, self.name)
            elif line.strip():
                self.count += _take(line, self.name, number, self.sets, self.entries, self.keys)
        except LockError as exc:
            self.first = (number, exc)
            return False
        return True

    def raise_first(self, path: Path) -> None:
        """Raise what parse_entries raises first, if anything is wrong."""
        if self.conflict is not None:
            raise self.conflict
        if not self.lines:
            raise empty_error(self.name)
        first = self.first
        if self.keys:   # else every line was built, and a duplicate found as it was built
            self.keys.extend(map(hash, self.entries))
            duplicate = _first_duplicate(path, self.keys, first[0] if first else self.lines + 1)
            if duplicate is not None and (first is None or duplicate[0] < first[0]):
                first = duplicate
        if first is not None:
            raise first[1]


def _take(line: str, name: str, number: int,
          sets: tuple[Collection[str], Mapping[str, Named | None]],
          entries: dict[str, LockEntry], keys: array[int]) -> int:
    """Check one entry line: build it if wanted, lean if so (1: counted as unread otherwise)."""
    wanted, lean = sets
    fingerprint = leading_fingerprint(line)
    if fingerprint is not None and fingerprint not in wanted:
        _check(line, name, number)
        keys.append(hash(fingerprint))
        return 1
    entry = (fingerprint is not None and fingerprint in lean
             and lean_entry(line, lean[fingerprint])) or _entry(line, name, number)
    if entry.fingerprint in entries:
        raise twice_error(name, number, entry.fingerprint)
    entries[entry.fingerprint] = entry
    return 0


_BUCKETS = 4


def _first_duplicate(path: Path, keys: array[int], before: int
                     ) -> tuple[int, LockError] | None:
    """The first line (before line ``before``) whose fingerprint an earlier line has: the
    64-bit hashes say whether any can be (a million hold about 30 MB less than the strings);
    only then is the file read again to find it."""
    shared: set[int] = set()
    for bucket in range(_BUCKETS):   # a quarter at a time: a million keys as ints are 40 MB
        part = [key for key in keys if key & (_BUCKETS - 1) == bucket]
        if len(set(part)) != len(part):
            shared.update(key for key, n in Counter(part).items() if n > 1)
    if not shared:
        return None
    name = str(path)
    seen: set[str] = set()
    with _open(path) as text:
        for number, line in _numbered(text, name):
            if number >= before:
                break
            if number == 1 or not line.strip():
                continue
            fingerprint = leading_fingerprint(line) or _entry(line, name, number).fingerprint
            if hash(fingerprint) in shared:
                if fingerprint in seen:
                    return number, twice_error(name, number, fingerprint)
                seen.add(fingerprint)
    return None


def _entry(line: str, name: str, number: int) -> LockEntry:
    try:
        return entry_from_line(line)
    except (json.JSONDecodeError, EntryFormatError) as exc:
        raise entry_error(name, number, exc) from None


def _passes(line: str) -> bool:
    """Whether :func:`check_line` accepts the line."""
    try:
        check_line(line)
    except (json.JSONDecodeError, EntryFormatError):
        return False
    return True


def _check(line: str, name: str, number: int) -> None:
    try:
        check_line(line)
    except (json.JSONDecodeError, EntryFormatError) as exc:
        raise entry_error(name, number, exc) from None


def _open(path: Path) -> TextIO:
    return os.fdopen(open_nofollow(path, os.O_RDONLY), encoding="utf-8", newline="")


def _identity(text: TextIO) -> tuple[int, ...]:
    st = os.fstat(text.fileno())
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _numbered(text: TextIO, name: str) -> Iterator[tuple[int, str]]:
    """The file's lines numbered from 1, as :func:`split_lines` splits the whole text."""
    for number, lines in _chunks(text, name):
        yield from enumerate(lines, number)


def _chunks(text: TextIO, name: str) -> Iterator[tuple[int, list[str]]]:
    """The file's lines as :func:`split_lines` splits the whole text, a chunk at a time: the
    first one's number (from 1) and the lines."""
    number = 1
    rest = ""
    try:
        while chunk := text.read(CHUNK):
            cr = "\r" in chunk or rest.endswith("\r")   # the "\r" of a "\r\n" split here
            lines = (rest + chunk).split("\n")
            rest = lines.pop()
            if lines:
                yield number, _without_cr(lines) if cr else lines
                number += len(lines)
        if rest:
            yield number, _without_cr([rest])
    except UnicodeDecodeError:
        raise _not_utf8(name) from None


def _without_cr(lines: list[str]) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _journal_fingerprints(text: str) -> frozenset[str]:
    """The fingerprints a journal's events name (its replay reports any unreadable event)."""
    found = set()
    for line in text.split("\n")[:-1]:
        try:
            event = decode_line(line)
            put = event.get("put") if isinstance(event, dict) else None
            named = put.get("fingerprint") if isinstance(put, dict) else event.get("drop")
        except (ValueError, AttributeError):
            continue
        if isinstance(named, str):
            found.add(named)
    return frozenset(found)


def _not_utf8(name: str) -> LockError:
    return LockError(f"{name} is not UTF-8 text: the lockfile is corrupt. Restore it from "
                     "git (`git checkout -- FILE`) rather than deleting it")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(str(path)) from None
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror}") from None
