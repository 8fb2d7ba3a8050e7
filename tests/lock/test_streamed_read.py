"""read_lock(only=..., keep_unread=False), the plan's reader: it streams the lockfile, builds
only the wanted entries and counts the rest, yet reads every version-1 lock as the full reader
does (the same entries, the same first error at the same line), limits included; and the fast
msgspec decode of a line equals the reference (json + entry_from_json) or defers to it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from seedflow.errors import LockError
from seedflow.lock import decode as decode_module
from seedflow.lock import model as model_module
from seedflow.lock import read as read_module
from seedflow.lock.decode import (
    CheckedEntry,
    LazyRequest,
    _LeanEntry,
    brief_from_line,
    entry_from_line,
    lean_entry,
)
from seedflow.lock.format import lock_text
from seedflow.lock.journal import drop_event, journal_path, put_event
from seedflow.lock.model import (
    EntryFormatError,
    LockedImage,
    LockEntry,
    State,
    decode_line,
    entry_from_json,
)
from seedflow.lock.read import read_lock


def entry(n: int, **changes: object) -> LockEntry:
    fp = hashlib.sha256(str(n).encode()).hexdigest()[:32]
    base = LockEntry(fingerprint=fp, address=f"a[n={n}]", asset="a", provider="sim",
                     state=State.SUCCEEDED, request={"prompt": f"p {n} é \"", "seed": n},
                     task_id=f"t{n}", images=(LockedImage(f"out/{n}.png", "0" * 64, 1, "u"),))
    return base.evolve(**changes)


VARIED = [entry(0), entry(1, state=State.FAILED, error="boom", task_id=None),
          entry(2, state=State.SUBMITTED, result_urls=("https://x/1.png",)),
          entry(3, state=State.UNCERTAIN, task_id=None, attempts=3),
          entry(4, unsent={"seed": 4}, images=()), entry(5, request={"n": {"deep": [1, [2]]}}),
          entry(6, address="a[n='odd, name'] é\u2028x")]
HEADER = lock_text([]).splitlines()[0]


def both_ways(path: Path, wanted: set[str]) -> tuple[dict[str, LockEntry], list[LockEntry]]:
    """The streamed read: kept entries, and the unread ones read back."""
    lock = read_lock(path, only=wanted, keep_unread=False)
    return lock.entries, list(lock.unread)


@pytest.mark.parametrize("wanted", [set(), {VARIED[2].fingerprint}, "all"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_lock_reads_the_same_streamed(tmp_path: Path, wanted: set[str] | str,
                                        newline: str) -> None:
    path = tmp_path / "p.lock"
    text = lock_text(VARIED)
    path.write_bytes(text.replace("\n", newline).encode())
    full = read_lock(path).entries
    chosen = set(full) if wanted == "all" else set(wanted)

    kept, unread = both_ways(path, chosen)

    assert set(kept) == chosen
    assert {**kept, **{e.fingerprint: e for e in unread}} == full
    assert len(read_lock(path, only=chosen, keep_unread=False).unread) == len(unread)
    assert unread == [e for e in full.values() if e.fingerprint not in chosen]   # file order


@dataclasses.dataclass
class Named:
    fingerprint: str
    address: str
    request: Mapping[str, Any]


def copied(text: str) -> str:
    """An equal string that is another object."""
    copy = "".join(list(text))
    assert copy == text and copy is not text
    return copy


def test_entries_share_the_strings_the_caller_holds(tmp_path: Path) -> None:
    """``only`` as fingerprint → combination (a plan's): an entry whose fingerprint or address
    is the same takes the caller's string, and with the same fingerprint its request; one whose
    address differs keeps its own."""
    path = tmp_path / "p.lock"
    path.write_text(lock_text(VARIED))
    same = Named(copied(VARIED[0].fingerprint), copied(VARIED[0].address),
                 dict(VARIED[0].request))
    renamed = Named(copied(VARIED[6].fingerprint), "renamed[n=6]", dict(VARIED[6].request))
    only = {same.fingerprint: same, renamed.fingerprint: renamed}

    lock = read_lock(path, only=only, keep_unread=False)

    first, sixth = lock.entries[same.fingerprint], lock.entries[renamed.fingerprint]
    assert first.fingerprint is same.fingerprint and first.address is same.address
    assert first.request is same.request and sixth.request is renamed.request
    assert sixth.fingerprint is renamed.fingerprint and sixth.address == VARIED[6].address
    assert lock.entries == read_lock(path, only=set(only), keep_unread=False).entries


def test_the_journal_reaches_entries_the_plan_does_not_want(tmp_path: Path) -> None:
    path = tmp_path / "p.lock"
    path.write_text(lock_text(VARIED))
    changed = VARIED[0].evolve(attempts=7)
    journal_path(path).write_text(put_event(changed) + "\n" + drop_event(VARIED[1].fingerprint)
                                  + "\n" + put_event(entry(99)) + "\n")
    full = read_lock(path)

    for wanted in (set(), {changed.fingerprint}, {VARIED[3].fingerprint}):
        kept, unread = both_ways(path, wanted)

        assert kept == {fp: e for fp, e in full.entries.items() if fp in wanted}
        assert unread == [e for e in full.entries.values() if e.fingerprint not in wanted]
    assert changed in unread and entry(99) == unread[-1]   # a new entry comes last, as in full
    assert VARIED[1].fingerprint not in [e.fingerprint for e in unread]


def test_an_entry_dropped_and_put_again_moves_to_the_end_as_in_a_full_read(
        tmp_path: Path) -> None:
    path = tmp_path / "p.lock"
    path.write_text(lock_text(VARIED))
    again = VARIED[0].evolve(attempts=2)
    journal_path(path).write_text(drop_event(again.fingerprint) + "\n" + put_event(again) + "\n")
    _, unread = both_ways(path, set())
    assert unread == list(read_lock(path).entries.values()) and unread[-1] == again


def test_non_canonical_lines_are_parsed_and_kept(tmp_path: Path) -> None:
    """A line not laid out as seedflow writes it (keys reordered by hand) is parsed in full."""
    reordered = _reordered(VARIED[0].line())
    path = tmp_path / "p.lock"
    path.write_text("\n".join([HEADER, reordered, VARIED[1].line()]) + "\n")

    kept, unread = both_ways(path, set())
    assert kept == {} and unread == [VARIED[0], VARIED[1]]
    kept, unread = both_ways(path, {VARIED[1].fingerprint})
    assert list(kept) == [VARIED[1].fingerprint] and unread == [VARIED[0]]


def broken(kind: str) -> str:
    """Lockfile text with one thing wrong (or two, to check which is reported first)."""
    good = [e.line() for e in VARIED[:3]]
    dup = VARIED[1].line()
    nan = VARIED[0].line().replace('"seed":0', '"seed":NaN')
    return {
        "conflict": "\n".join([HEADER, good[0], "<<<<<<< ours", good[1]]),
        "conflict-after-bad-json": "\n".join([HEADER, "{nope", good[0], "=======", good[1]]),
        "empty": "",
        "blank-header": "\n".join(["", good[0]]),
        "newer": '{"seedflow_lock":9}\n' + good[0],
        "bad-json": "\n".join([HEADER, good[0], good[1][:-3], good[2]]),
        "bad-entry": "\n".join([HEADER, good[1], good[0].replace('"succeeded"', '"done"')]),
        "no-task-id": "\n".join([HEADER, good[0].replace('"task_id":"t0"', '"task_id":null')]),
        "bad-sha": "\n".join([HEADER, good[0].replace("0" * 64, "0" * 63)]),
        "size-is-a-float": "\n".join([HEADER, good[0].replace('"size":1', '"size":1.0')]),
        "twice": "\n".join([HEADER, good[0], dup, good[2], dup]),
        "twice-before-bad-json": "\n".join([HEADER, dup, dup, "{nope"]),
        "bad-json-before-twice": "\n".join([HEADER, dup, "{nope", dup]),
        "deep": "\n".join([HEADER, good[0].replace('"seed":0', '"seed":' + "[" * 80 + "]" * 80)]),
        "long-number": "\n".join([HEADER, good[0].replace('"seed":0', '"seed":' + "9" * 5000)]),
        "long-line": "\n".join([HEADER, good[0].replace('"p 0', '"' + "x" * 2**20)]),
        "nan-is-read-as-before": "\n".join([HEADER, nan, good[1]]),
        "bool-attempts": "\n".join([HEADER, good[0].replace('"attempts":1', '"attempts":true')]),
        "unsent-empty-list": "\n".join([HEADER, good[0].replace('"images"',
                                                                 '"unsent":[],"images"')]),
        "request-not-an-object": "\n".join([HEADER, good[1], _request(good[0], "[1,2]")]),
        "twice-built-and-checked": "\n".join([HEADER, _reordered(good[0]), good[1], good[0]]),
    }[kind] + "\n"


def _request(line: str, value: str) -> str:
    start = line.index('"request":') + len('"request":')
    end = line.index(',"images"')
    return line[:start] + value + line[end:]


def _reordered(line: str) -> str:
    """The same entry with its keys in another order: a line read in full, whatever is wanted."""
    return json.dumps(dict(reversed(list(json.loads(line).items()))))


@pytest.mark.parametrize("kind", ["conflict", "conflict-after-bad-json", "empty", "blank-header",
                                  "newer", "bad-json", "bad-entry", "no-task-id", "bad-sha",
                                  "size-is-a-float", "twice", "twice-before-bad-json",
                                  "bad-json-before-twice", "deep", "long-number", "long-line",
                                  "nan-is-read-as-before", "bool-attempts",
                                  "unsent-empty-list", "request-not-an-object",
                                  "twice-built-and-checked"])
@pytest.mark.parametrize("wanted", ["none", "all"])
def test_a_broken_lock_gets_the_same_error_streamed(tmp_path: Path, kind: str,
                                                     wanted: str) -> None:
    path = tmp_path / "p.lock"
    path.write_text(broken(kind), encoding="utf-8")
    chosen = {e.fingerprint for e in VARIED} if wanted == "all" else set()
    try:
        expected: dict[str, LockEntry] | str = read_lock(path).entries
    except LockError as exc:
        expected = exc.message

    try:
        kept, unread = both_ways(path, chosen)
        got: dict[str, LockEntry] | str = {**kept, **{e.fingerprint: e for e in unread}}
    except LockError as exc:
        got = exc.message

    assert got == expected
    if kind.startswith(("nan", "unsent")):
        assert isinstance(got, dict)   # read, as the full reader reads it
    else:
        assert isinstance(got, str) and str(path) in got


def test_a_lock_that_is_not_utf8_gets_the_same_error(tmp_path: Path) -> None:
    path = tmp_path / "p.lock"
    path.write_bytes(f"{HEADER}\n{VARIED[0].line()}\n<<<<<<< x\n".encode() + b"\xff\n")
    with pytest.raises(LockError) as full:
        read_lock(path)
    with pytest.raises(LockError) as streamed:
        read_lock(path, only=set(), keep_unread=False)
    assert streamed.value.message == full.value.message
    assert "is not UTF-8 text" in full.value.message


def test_a_broken_lock_is_reported_before_a_broken_journal(tmp_path: Path) -> None:
    path = tmp_path / "p.lock"
    path.write_text(HEADER + "\n{nope\n")
    journal_path(path).write_bytes(b"\xff\n")
    with pytest.raises(LockError) as full:
        read_lock(path)
    with pytest.raises(LockError) as streamed:
        read_lock(path, only=set(), keep_unread=False)
    assert streamed.value.message == full.value.message
    assert full.value.message.startswith(f"{path}:2: not valid JSON")
    path.write_text(HEADER + "\n")
    with pytest.raises(LockError, match=r"p\.lock\.journal is not UTF-8"):
        read_lock(path, only=set(), keep_unread=False)


def test_a_lock_changed_between_reads_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.lock"
    path.write_text(lock_text(VARIED))
    lock = read_lock(path, only=set(), keep_unread=False)
    path.write_text(lock_text(VARIED[:2]))
    with pytest.raises(LockError, match="changed while seedflow was reading it"):
        list(lock.unread)


@pytest.mark.parametrize("chunk", [7, 8, 100])   # edges inside lines and inside "\r\n"
def test_lines_are_read_in_chunks_without_losing_a_line(tmp_path: Path, chunk: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_module, "CHUNK", chunk)
    path = tmp_path / "p.lock"
    path.write_bytes(lock_text(VARIED).replace("\n", "\r\n").encode())
    full = read_lock(path).entries
    kept, unread = both_ways(path, set())
    assert kept == {} and unread == list(full.values())
    assert len(unread) == len(VARIED)
    kept, unread = both_ways(path, set(full))
    assert kept == full and unread == []
    assert all(isinstance(e.request, LazyRequest) for e in kept.values())


def test_a_crlf_split_between_chunks_ends_the_line_without_its_cr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first chunk ends with a line's "\r", the next starts with its "\n": the line is read
    without the "\r", as when the whole text is split (one character more would be too long)."""
    line = VARIED[0].line()
    for module in (model_module, decode_module):
        monkeypatch.setattr(module, "MAX_LOCK_LINE", len(line))
    monkeypatch.setattr(read_module, "CHUNK", len(f"{HEADER}\r\n{line}\r"))
    path = tmp_path / "p.lock"
    path.write_bytes(f"{HEADER}\r\n{line}\r\n".encode())
    assert read_lock(path).entries == {VARIED[0].fingerprint: VARIED[0]}
    assert both_ways(path, set()) == ({}, [VARIED[0]])


def many(count: int) -> list[LockEntry]:
    return [entry(n) for n in range(100, 100 + count)]


@pytest.mark.parametrize("bad", [
    pytest.param(lambda line: line[:-3], id="not-json"),
    pytest.param(lambda line: line.replace('"succeeded"', '"done"'), id="bad-state"),
    pytest.param(lambda line: _request(line, "[1]"), id="request-not-an-object"),
    pytest.param(lambda line: _request(line, '{"x":' + "[" * 80 + "]" * 80 + "}"),
                 id="deep-request"),
    pytest.param(lambda line: line.replace('"seed":', '"seed":' + "1" * 4400 + ","
                                           '"more":'), id="long-number"),
    pytest.param(lambda line: "<<<<<<< ours", id="conflict-marker"),
])
@pytest.mark.parametrize("wanted", ["none", "all", "half"])
def test_one_bad_line_among_many_is_reported_with_its_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: Callable[[str], str],
        wanted: str) -> None:
    """Lines taken the fast way around a bad one, over several chunks: the error is the full
    reader's, at the bad line's number."""
    monkeypatch.setattr(read_module, "CHUNK", 5_000)
    entries = many(300)
    lines = lock_text(entries).splitlines()
    lines[200] = bad(lines[200])   # the 200th entry: line 201
    path = tmp_path / "p.lock"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fingerprints = [e.fingerprint for e in entries]
    chosen = {"none": set(), "all": set(fingerprints), "half": set(fingerprints[::2])}[wanted]

    with pytest.raises(LockError) as full:
        read_lock(path)
    with pytest.raises(LockError) as streamed:
        read_lock(path, only=chosen, keep_unread=False)

    assert streamed.value.message == full.value.message
    assert full.value.message.startswith(f"{path}:201: ")


@pytest.mark.parametrize("wanted", ["none", "all", "half"])
def test_a_duplicate_far_apart_is_reported_at_its_second_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wanted: str) -> None:
    monkeypatch.setattr(read_module, "CHUNK", 5_000)
    entries = many(300)
    lines = lock_text(entries).splitlines()
    lines.insert(251, lines[11])   # entry 10 again, as line 252
    path = tmp_path / "p.lock"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fingerprints = [e.fingerprint for e in entries]
    chosen = {"none": set(), "all": set(fingerprints), "half": set(fingerprints[::2])}[wanted]

    with pytest.raises(LockError) as streamed:
        read_lock(path, only=chosen, keep_unread=False)

    assert streamed.value.message == (f"{path}:252: fingerprint {entries[10].fingerprint} "
                                      "appears twice; restore the lockfile from git, or delete "
                                      "the line of the older task")


LINES = [e.line() for e in VARIED] + [
    VARIED[0].line().replace('"seed":0', '"seed":NaN'),
    VARIED[0].line().replace('"p 0', '"\\ud800'),
    VARIED[0].line().replace('"seed":0', '"seed":' + "9" * 4300),
    VARIED[0].line().replace('"size":1', '"size":true'),
    VARIED[0].line().replace('"images"', '"unsent":null,"images"'),
    VARIED[0].line().replace('"attempts":1', '"attempts":1,"attempts":2'),
    VARIED[0].line().replace('"attempts":1', '"attempts":-1'),
    VARIED[0].line().replace('"asset":"a"', '"asset":""'),
    VARIED[0].line().replace('"images":[', '"images":[1,'),
    _request(VARIED[0].line(), '["not an object"]'), _request(VARIED[0].line(), ' "text" '),
    '["not an object"]', "{nope",
    *(VARIED[0].line().replace('"seed":0', '"seed":' + "[" * n + "]" * n) for n in (66, 67)),
    *(VARIED[4].line().replace('"unsent":{"seed":4}', '"unsent":{"seed":' + "[" * n + "]" * n + "}")
      for n in (66, 67)),
]


@pytest.mark.parametrize("line", LINES)
def test_the_fast_decode_equals_the_reference(line: str) -> None:
    try:
        expected: LockEntry | str = entry_from_json(decode_line(line))
    except (json.JSONDecodeError, EntryFormatError) as exc:
        expected = f"{type(exc).__name__}: {exc}"
    try:
        got: LockEntry | str = entry_from_line(line)
    except (json.JSONDecodeError, EntryFormatError) as exc:
        got = f"{type(exc).__name__}: {exc}"
    assert got == expected or (got != got and expected != expected)   # NaN inside


@pytest.mark.parametrize("line", [e.line() for e in VARIED] + [LINES[len(VARIED)]])
def test_a_brief_is_the_entry_with_its_request_as_read(line: str) -> None:
    full = entry_from_line(line)
    brief = brief_from_line(line)
    assert (brief.fingerprint, brief.address, brief.asset, brief.provider, brief.task_id,
            brief.paths) == (full.fingerprint, full.address, full.asset, full.provider,
                             full.task_id, [i.path for i in full.images])
    assert repr(json.loads(brief.request_json)) == repr(full.request)


def _field_twins(twin_type: type) -> list[tuple[str, Any, Any]]:
    """(name, LockEntry's field, the twin's field) for each field, once the two types are
    held to have the same fields, each required or not alike, with the same defaults."""
    ours = {f.name: f for f in msgspec.inspect.type_info(LockEntry).fields}
    theirs = {f.name: f for f in msgspec.inspect.type_info(twin_type).fields}
    assert ours.keys() == theirs.keys()
    for name, field in ours.items():
        twin = theirs[name]
        assert twin.required == field.required, name
        assert (twin.default, twin.default_factory) == (field.default, field.default_factory) \
            or twin.default == field.default_factory(), name
    return [(name, field, theirs[name]) for name, field in ours.items()]


def test_the_checked_entry_mirrors_lock_entry() -> None:
    """Lines only checked are checked against CheckedEntry: it must be LockEntry's type (the
    same fields, required or not, the same defaults, types and constraints)."""
    for name, field, twin in _field_twins(CheckedEntry):
        if name == "images":   # a Struct of LockedImage's fields
            assert [(f.name, f.type) for f in twin.type.item_type.fields] == [
                (f.name, f.type) for f in field.type.item_type.fields]
        else:
            assert twin.type == field.type, name


def test_the_lean_entry_mirrors_lock_entry() -> None:
    """A plan's own lines are decoded as _LeanEntry: LockEntry's type but its request (kept as
    the text read), images built as LockedImage with the same constraints."""
    for name, field, twin in _field_twins(_LeanEntry):
        if name != "request":
            assert twin.type == field.type, name


@pytest.mark.parametrize("line", LINES)
def test_a_lean_entry_is_the_entry_or_nothing(line: str) -> None:
    """A plan's own entries keep their request as text: equal to the full entry (the request
    decoded when read), or None where the line must be read in full."""
    lean = lean_entry(line)
    if lean is None:
        return
    full = entry_from_line(line)
    assert isinstance(lean.request, LazyRequest)
    assert lean == full and lean.line() == full.line()
    assert dict(lean.request) == full.request and len(lean.request) == len(full.request)


def test_lines_a_lean_entry_leaves_to_the_full_reader() -> None:
    good = VARIED[0].line()
    assert lean_entry(good) is not None
    for line in (good.replace('"seed":0', '"seed":' + "9" * 4300),           # long number
                 good.replace('"seed":0', '"seed":' + "[" * 70 + "]" * 70),  # deep
                 VARIED[4].line().replace('"unsent":{"seed":4}', '"unsent":{"n":' + "[" * 70
                                          + "]" * 70 + "}"),
                 good.replace('"seed":0', '"seed":NaN'), "{nope",
                 _request(good, "[]"), _request(good, "null")):        # not an object
        assert lean_entry(line) is None
