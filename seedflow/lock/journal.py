"""The journal ``<lock>.journal``: a lock's changes since its last compaction.

One JSON line per event, ``{"put": ENTRY}`` or ``{"drop": FINGERPRINT}``, appended and fsync'd
(a batch of events shares one fsync). Appending costs the same whatever the lock's size;
replaying the journal over the lockfile's entries gives the current lock. A crash mid-append
can leave a last line without its newline (a *torn tail*): it was never acknowledged as
durable, so replay ignores it, and the next writer cuts it off before appending.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from seedflow.errors import LockError
from seedflow.lock.file_lock import open_nofollow
from seedflow.lock.model import EntryFormatError, LockEntry, decode_line, entry_from_json


def journal_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".journal")


def put_event(entry: LockEntry) -> str:
    return json.dumps({"put": entry.to_json()}, ensure_ascii=False, separators=(",", ":"))


def drop_event(fingerprint: str) -> str:
    return json.dumps({"drop": fingerprint})


def replay(text: str, name: str, entries: dict[str, LockEntry],
           unparsed: dict[str, str]) -> int:
    """Apply the journal's events to a lock's entries (and its unparsed lines, which a put or
    drop replaces); return how many there were. A corrupt line before the last is an error."""
    lines = text.split("\n")
    torn = lines.pop()  # text after the last newline: a write cut short by a crash
    events = 0
    for number, line in enumerate(lines, start=1):
        try:
            event = decode_line(line)
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


class Journal:
    """The journal of a lock open for appending; only the holder of its file lock opens it."""

    def __init__(self, lock_path: Path) -> None:
        self.path = journal_path(lock_path)
        fd = open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._drop_torn_tail()

    def _drop_torn_tail(self) -> None:
        """Cut a last line that a crash left without its newline (replay ignores it), so the
        next append starts a line of its own instead of being glued onto the fragment. The
        journal is small (compaction empties it) and was just read in full by the replay."""
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            os.ftruncate(self._file.fileno(), keep)
            os.fsync(self._file.fileno())

    def write(self, events: list[str]) -> None:
        """Append event lines (buffered: durable after :meth:`sync`)."""
        self._file.write("\n".join(events) + "\n")

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def clear(self) -> None:
        """Empty the journal (durably): its events are in the lockfile now."""
        self._file.truncate(0)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close it, and remove it if it is empty."""
        self._file.close()
        if self.path.stat().st_size == 0:
            self.path.unlink()
