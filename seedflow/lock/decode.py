"""Entry lines decoded fast: msgspec checks a line against the entry's type in C and builds
the record, about 5× faster than ``json.loads`` plus :func:`~seedflow.lock.model.entry_from_json`.

The reference is still :func:`~seedflow.lock.model.decode_line` + ``entry_from_json``. The fast
path only takes lines it can judge exactly as the reference does (short enough, too few brackets
to nest past the limit, every field of the type the reference requires); any other line (a wrong
type, a number msgspec will not convert, JSON that Python reads but msgspec does not, such as
``NaN`` or a lone surrogate) goes the reference way, which accepts it or raises the usual
EntryFormatError. So the fast path never accepts what the reference refuses, and every error
reads the same as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from sys import intern
from types import MappingProxyType
from typing import Annotated, Any, Protocol

import msgspec

from seedflow.limits import MAX_JSON_DEPTH, MAX_LOCK_LINE
from seedflow.lock.model import (
    Count,
    LockedImage,
    LockEntry,
    State,
    Text,
    decode_line,
    entry_from_json,
    nesting_depth,
)

# LockEntry's field types and constraints are entry_from_json's rules; unknown keys are ignored
# by both.
_DECODER = msgspec.json.Decoder(LockEntry)


class _Image(msgspec.Struct, gc=False):
    path: Text
    sha256: Annotated[str, msgspec.Meta(min_length=64, max_length=64)]
    size: Count
    url: Text


class _Fields(msgspec.Struct, gc=False, kw_only=True):
    """LockEntry's fields but its request, as a Struct (msgspec builds one 3× faster than a
    dataclass); a test holds the field lists equal."""

    fingerprint: Text
    address: Text
    asset: Text
    provider: Text
    state: State
    task_id: str | None = None
    submitted_at: str | None = None
    completed_at: str | None = None
    result_urls: tuple[str, ...] = ()
    images: tuple[_Image, ...] = ()
    error: str | None = None
    attempts: Count = 1
    unsent: Mapping[str, Any] = {}


class CheckedEntry(_Fields, kw_only=True):
    """A line checked in full and dropped (a plan's unrelated lines)."""

    request: Mapping[str, Any]


class _LeanEntry(_Fields, kw_only=True):
    """A line whose request is only checked as JSON and kept as its text (see lean_entry); its
    images built as LockedImage in C (the same constraints as _Image: they are LockedImage's)."""

    images: tuple[LockedImage, ...] = ()   # type: ignore[assignment]  # a test holds it
    request: msgspec.Raw


_CHECKER = msgspec.json.Decoder(CheckedEntry)
_LEAN = msgspec.json.Decoder(_LeanEntry)


class LazyRequest(Mapping[str, Any]):
    """A locked request kept as the JSON text of its line, decoded (by ``json``, as the full
    reader decodes it) the first time it is read, and then kept."""

    __slots__ = ("_text", "_value")

    def __init__(self, text: bytes) -> None:
        self._text = text
        self._value: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            self._value = json.loads(self._text)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return repr(self._decoded())


class Named(Protocol):
    """What a caller holds of a combination (seedflow.plan.combos.Combination has these)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def request(self) -> Mapping[str, Any]: ...


def lean_entry(line: str, named: Named | None = None) -> LockEntry | None:
    """The entry of a line whose request nobody may read (a plan's own combinations: their
    requests are the spec's), its request a :class:`LazyRequest`; None for a line to read in
    full. The request is checked here as JSON, and as an object; it cannot fail to decode later:
    the line is too short for a number ``json`` refuses (more than 4,300 digits), has too few
    brackets to nest past the limit, and JSON that msgspec accepts ``json`` accepts. ``named``:
    the caller's combination, whose fingerprint and address strings are taken where they equal
    the entry's (one copy of each in memory), and whose request is the entry's where their
    fingerprints are the same (the fingerprint is a digest of the request)."""
    decoded = _lean(line)
    if decoded is None:
        return None   # read in full: the reference says what is wrong, or that nothing is
    lean, text = decoded
    fingerprint, address = lean.fingerprint, lean.address
    request: Mapping[str, Any] | None = None
    if named is not None:
        if named.fingerprint == fingerprint:
            fingerprint, request = named.fingerprint, named.request
        address = named.address if named.address == address else address
    submitted, completed = lean.submitted_at, lean.completed_at
    # positional, in LockEntry's field order; the asset, provider and times, which most
    # entries share, as one string each (100,000 entries: 25 MB less)
    return LockEntry(
        fingerprint, address, intern(lean.asset), intern(lean.provider), lean.state,
        request or LazyRequest(text), lean.task_id, submitted and intern(submitted),
        completed and intern(completed), lean.result_urls, lean.images, lean.error,
        lean.attempts, lean.unsent or _NOTHING_UNSENT)


def _lean(line: str) -> tuple[_LeanEntry, bytes] | None:
    """:func:`_fast` with _LEAN, and its request's text, checked: an object, not nested past
    the limit. Only the request and ``unsent`` can nest (the other fields are typed), so only
    they are looked at, not the whole line."""
    if len(line) > _NO_LONG_NUMBER:
        return None
    try:
        lean = _LEAN.decode(line)
    except (msgspec.DecodeError, RecursionError):
        return None
    request = bytes(lean.request)
    if (not lean.task_id and lean.state.has_task_id) or request[0] != _OPEN_BRACE:
        return None
    if _brackets(request) >= MAX_JSON_DEPTH \
            or (lean.unsent and nesting_depth(lean.unsent) >= MAX_JSON_DEPTH):
        return None
    return lean, request


def _brackets(text: bytes) -> int:
    """How many ``{`` and ``[`` ``text`` holds: a value nests at most that deep, and the entry
    line one level more (quoted ones count too: the reference judges a line that has them)."""
    return len(text) - len(text.translate(None, b"{["))


_NOTHING_UNSENT: Mapping[str, Any] = MappingProxyType({})   # one for every entry without any
_NO_LONG_NUMBER = 4_300   # Python's default limit on the digits of a number it converts
_OPEN_BRACE = ord("{")   # msgspec.Raw holds a value without the blanks around it


def entry_from_line(line: str) -> LockEntry:
    """The entry a lockfile line holds; EntryFormatError (or json.JSONDecodeError for text that
    is not JSON) exactly as :func:`decode_line` + :func:`entry_from_json` raise them."""
    fast: LockEntry | None = _fast(line)
    return fast if fast is not None else entry_from_json(decode_line(line))


def check_line(line: str) -> None:
    """Raise what :func:`entry_from_line` would raise for this line."""
    if _fast(line, _CHECKER) is None:
        entry_from_json(decode_line(line))


def _fast(line: str, decoder: msgspec.json.Decoder[Any] = _DECODER, *,
          longest: int = MAX_LOCK_LINE) -> Any:
    """The line decoded, or None where only the reference can judge it (longer than
    ``longest``, a task id missing, or anything msgspec refuses)."""
    # Nesting deeper than the limit needs that many brackets: such lines go the reference way.
    if len(line) > longest or line.count("{") + line.count("[") > MAX_JSON_DEPTH:
        return None
    try:
        entry = decoder.decode(line)
    except (msgspec.DecodeError, RecursionError):
        return None
    if not entry.task_id and entry.state.has_task_id:
        return None
    return entry


class _ImagePath(msgspec.Struct, gc=False):
    path: str


class EntryBrief(msgspec.Struct, gc=False):
    """What a plan lists of an orphan, from a line already checked in full: its request stays
    the JSON text it was read as (listing a million orphans then costs no dicts)."""

    fingerprint: str
    address: str
    asset: str
    provider: str
    request: msgspec.Raw
    task_id: str | None = None
    images: tuple[_ImagePath, ...] = ()

    @property
    def paths(self) -> list[str]:
        return [image.path for image in self.images]

    @property
    def request_json(self) -> bytes:
        return bytes(self.request)


_BRIEF = msgspec.json.Decoder(EntryBrief)


def brief_from_line(line: str) -> EntryBrief:
    """The brief of a line :func:`check_line` accepted (JSON that only Python reads, such as
    ``NaN``, through the full entry)."""
    try:
        return _BRIEF.decode(line)
    except msgspec.DecodeError:
        return brief_of(entry_from_line(line))


def brief_of(entry: LockEntry) -> EntryBrief:
    return EntryBrief(
        fingerprint=entry.fingerprint, address=entry.address, asset=entry.asset,
        provider=entry.provider, task_id=entry.task_id,
        request=msgspec.Raw(json.dumps(entry.to_json()["request"]).encode()),
        images=tuple(_ImagePath(image.path) for image in entry.images))
