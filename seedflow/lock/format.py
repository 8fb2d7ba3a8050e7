"""Lockfile text: parsing it (every way it can be wrong is a LockError naming the line) and
writing it canonically (pure: strings in, strings out; no I/O).

A lockfile is a header line, then one entry per line as :meth:`LockEntry.line` writes it (the
format is in :mod:`seedflow.lock.model` and docs/lockfile.md). Parsing can be *partial*
(``only``): a line seedflow wrote starts ``{"fingerprint":"<hex>","address":"`` at fixed
offsets (model's ``FINGERPRINT_KEY``, ``FINGERPRINT_HEX_LENGTH`` and ``ADDRESS_KEY``), so the
fingerprint and sort key of an entry a run cannot touch are read without parsing its JSON, and
its line goes back verbatim at compaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from json.decoder import scanstring  # type: ignore[attr-defined]

from seedflow import __version__
from seedflow.errors import LockError
from seedflow.lock.decode import entry_from_line
from seedflow.lock.model import (
    ADDRESS_KEY,
    FINGERPRINT_HEX_LENGTH,
    FINGERPRINT_KEY,
    FORMAT_VERSION,
    HEADER_KEY,
    EntryFormatError,
    LockEntry,
    check_line_size,
    decode_line,
    header_line,
    sort_key,
)

CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")


def parse_lock(text: str, name: str) -> dict[str, LockEntry]:
    """Parse lockfile text; every way it can be wrong is a LockError naming the line."""
    return parse_entries(text, name, only=None)[0]


def parse_entries(text: str, name: str, *, only: Collection[str] | None,
                  ) -> tuple[dict[str, LockEntry], dict[str, str]]:
    """The entries by fingerprint, and the lines left unparsed (fingerprint → line): with
    ``only``, a line seedflow wrote whose fingerprint is not in it is kept as text. Conflict
    markers, the header and duplicate fingerprints are still checked on every line."""
    lines = split_lines(text)
    _check_conflicts(lines, name)
    if not lines:
        raise empty_error(name)
    check_header(lines[0], name)
    entries: dict[str, LockEntry] = {}
    unparsed: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fingerprint = leading_fingerprint(line) if only is not None else None
        skip = fingerprint is not None and only is not None and fingerprint not in only
        if skip:
            _check_size(line, name, number)   # it goes back into the file as it is
        else:
            entry = _parse_entry(line, name, number)
            fingerprint = entry.fingerprint
        assert fingerprint is not None
        if fingerprint in entries or fingerprint in unparsed:
            raise twice_error(name, number, fingerprint)
        if skip:
            unparsed[fingerprint] = line
        else:
            entries[fingerprint] = entry
    return entries, unparsed


def split_lines(text: str) -> list[str]:
    """The lines of lockfile text: split at "\n" only (a "\r" before it dropped). A prompt may
    hold U+2028 or U+0085, which JSON leaves as they are and ``str.splitlines`` would split."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# Where an entry line's leading keys are (LockEntry.to_json writes them first, compact JSON).
_LEAD = f'{{"{FINGERPRINT_KEY}":"'
_FINGERPRINT_END = len(_LEAD) + FINGERPRINT_HEX_LENGTH
_ADDRESS = f'","{ADDRESS_KEY}":"'
_ADDRESS_START = _FINGERPRINT_END + len(_ADDRESS)  # just after the address's opening quote
_HEX = "0123456789abcdef"


def leading_fingerprint(line: str) -> str | None:
    """The fingerprint of a line seedflow wrote (fingerprint first, then address), unparsed;
    ``None`` for a line laid out otherwise (it is then parsed in full)."""
    if line.startswith(_LEAD) and line.startswith(_ADDRESS, _FINGERPRINT_END):
        fingerprint = line[len(_LEAD):_FINGERPRINT_END]
        if not fingerprint.strip(_HEX):   # hex digits only
            return fingerprint
    return None


def _raw_sort_key(fingerprint: str, line: str) -> tuple[str, str]:
    """An unparsed line's place in the file: its address (decoded alone), then fingerprint."""
    address, _ = scanstring(line, _ADDRESS_START)
    return (address, fingerprint)


def _check_conflicts(lines: list[str], name: str) -> None:
    for number, line in enumerate(lines, start=1):
        if line.startswith(CONFLICT_MARKERS):
            raise conflict_error(name, number)


# The errors of a lockfile, shared with the streaming reader (seedflow.lock.read).

def conflict_error(name: str, number: int) -> LockError:
    return LockError(
        f"{name}:{number}: the lockfile has git merge conflict markers. Redo the merge "
        "with seedflow's merge driver (docs/ci.md, \"A lockfile that already has "
        "conflict markers\"), which combines both sides' entries, then run plan again")


def empty_error(name: str) -> LockError:
    return LockError(f"{name} is empty. A lockfile always has a header line; restore it from "
                     "git, or delete it only if you mean to regenerate everything (paid)")


def twice_error(name: str, number: int, fingerprint: str) -> LockError:
    return LockError(f"{name}:{number}: fingerprint {fingerprint} appears twice; "
                     "restore the lockfile from git, or delete the line of the older task")


def entry_error(name: str, number: int, exc: ValueError) -> LockError:
    """The error for an entry line that is not JSON, or not a valid entry."""
    if isinstance(exc, json.JSONDecodeError):
        return LockError(f"{name}:{number}: not valid JSON ({exc.msg}); the lockfile is "
                         "corrupt. Restore it from git rather than deleting it")
    return LockError(f"{name}:{number}: invalid entry: {exc}")


def check_header(line: str, name: str) -> None:
    try:
        header = decode_line(line)
    except (json.JSONDecodeError, EntryFormatError):
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


def _check_size(line: str, name: str, number: int) -> None:
    try:
        check_line_size(line)
    except EntryFormatError as exc:
        raise LockError(f"{name}:{number}: invalid entry: {exc}") from None


def _parse_entry(line: str, name: str, number: int) -> LockEntry:
    try:
        return entry_from_line(line)
    except (json.JSONDecodeError, EntryFormatError) as exc:
        raise entry_error(name, number, exc) from None


def lock_text(entries: Iterable[LockEntry], unparsed: Mapping[str, str] | None = None) -> str:
    """The canonical file: header, then one line per entry sorted by address, fingerprint.
    ``unparsed`` lines (see :func:`parse_entries`) are written back exactly as they were read."""
    rows = [(sort_key(e), e.line()) for e in entries]
    rows += [(_raw_sort_key(fp, line), line) for fp, line in (unparsed or {}).items()]
    rows.sort(key=lambda row: row[0])
    return "\n".join([header_line(__version__), *(line for _, line in rows)]) + "\n"
