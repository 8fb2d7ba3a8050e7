"""The lazy parse's fixed offsets hold: an entry's line starts with its fingerprint (as long as
plan makes them) and then its address, so a line read without parsing it is the same entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from seedflow.lock.format import leading_fingerprint, lock_text, parse_entries, parse_lock
from seedflow.lock.model import (
    ADDRESS_KEY,
    FINGERPRINT_HEX_LENGTH,
    FINGERPRINT_KEY,
    LockedImage,
    LockEntry,
    State,
    entry_from_json,
)
from seedflow.lock.writer import LockWriter
from seedflow.plan.fingerprint import fingerprint

IMAGE = LockedImage("out/a.png", "ab" * 32, 1000, "https://cdn.example/a.png")
OTHER_IMAGE = LockedImage("out/b é.png", "cd" * 32, 0, "https://cdn.example/b.png")
TIMES = {"submitted_at": "2026-01-01T00:00:00Z", "completed_at": "2026-01-01T00:01:00Z"}


def make(address: str, state: State, prompt: str, *, unsent: dict[str, Any] | None = None,
         **optional: Any) -> LockEntry:
    """An entry whose fingerprint plan made, as apply records one."""
    request = {"model": "m", "input": {"prompt": prompt}}
    return LockEntry(fingerprint=fingerprint("sim", "m", request, unsent or {}),
                     address=address, asset="a", provider="sim", state=state, request=request,
                     unsent=unsent or {}, **optional)


ENTRIES = {
    "no-optional-field": make("a[n=1]", State.UNCERTAIN, "one"),
    "every-optional-field": make(
        'a[n="odd, \\"name\\"", tab=\t] é ✓', State.SUBMITTED, 'é ✓ "two"', unsent={"seed": 2},
        task_id="t-2", result_urls=("https://cdn.example/r.png",), images=(IMAGE,),
        error="timeout", attempts=3, **TIMES),
    "succeeded": make("a[n=3]", State.SUCCEEDED, "three", task_id="t-3",
                      images=(IMAGE, OTHER_IMAGE), **TIMES),
    "failed-same-address": make("a[n=1]", State.FAILED, "four", error="content policy", attempts=2),
    "sorts-first": make("A", State.SUCCEEDED, "five", task_id="t-5", images=()),
}


def test_fingerprints_have_the_length_the_lock_format_reads() -> None:
    for entry in ENTRIES.values():
        assert len(entry.fingerprint) == FINGERPRINT_HEX_LENGTH
        assert set(entry.fingerprint) <= set("0123456789abcdef")


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
def test_entry_line_lazy_fingerprint_full_parse_round_trip(entry: LockEntry) -> None:
    line = entry.line()
    assert list(json.loads(line))[:2] == [FINGERPRINT_KEY, ADDRESS_KEY]
    assert leading_fingerprint(line) == entry.fingerprint
    text = lock_text([entry])
    assert parse_lock(text, "x.lock") == {entry.fingerprint: entry}
    assert parse_entries(text, "x.lock", only=set()) == ({}, {entry.fingerprint: line})
    parsed = entry_from_json(json.loads(line))
    assert parsed == entry and type(parsed.state) is State


@pytest.mark.parametrize("only", [set(), {ENTRIES["every-optional-field"].fingerprint},
                                  {e.fingerprint for e in ENTRIES.values()}],
                         ids=["none", "one", "all"])
def test_unparsed_lines_sort_where_their_entries_would(only: set[str]) -> None:
    text = lock_text(ENTRIES.values())
    entries, unparsed = parse_entries(text, "x.lock", only=only)
    assert set(entries) == only
    assert set(unparsed.values()) == {e.line() for e in ENTRIES.values()
                                      if e.fingerprint not in only}
    assert lock_text(entries.values(), unparsed) == text


def test_compaction_writes_unparsed_lines_back_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    path.write_text(lock_text(ENTRIES.values()), encoding="utf-8")
    before = path.read_text(encoding="utf-8").splitlines()
    touched = ENTRIES["every-optional-field"]
    changed = touched.evolve(attempts=4)

    with LockWriter(path, only={touched.fingerprint}) as writer:
        assert set(writer.lock.entries) == {touched.fingerprint}
        writer.append([changed])
        writer.compact()

    after = path.read_text(encoding="utf-8").splitlines()
    assert after == [changed.line() if line == touched.line() else line for line in before]
    others = [e for e in ENTRIES.values() if e is not touched]
    assert parse_lock("\n".join(after), "x.lock") == {e.fingerprint: e
                                                      for e in [*others, changed]}


def test_a_line_laid_out_otherwise_is_parsed_in_full() -> None:
    entry = ENTRIES["succeeded"]
    reordered = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":"))
    assert leading_fingerprint(reordered) is None
    text = lock_text([]) + reordered + "\n"
    assert parse_entries(text, "x.lock", only=set()) == ({entry.fingerprint: entry}, {})
