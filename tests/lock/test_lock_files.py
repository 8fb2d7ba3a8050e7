"""The lockfile: deterministic, git-friendly text; every way it can be wrong is a clear error."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback

from seedflow import __version__
from seedflow.errors import LockError
from seedflow.lock.format import lock_text, parse_lock
from seedflow.lock.journal import journal_path
from seedflow.lock.model import NOTE, LockedImage, LockEntry, entry_from_json
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter

SHA = "ab" * 32


def entry(n: int, *, address: str | None = None, state: str = "succeeded") -> LockEntry:
    return LockEntry(
        fingerprint=f"{n:032x}", address=address or f"asset[n={n}]", asset="asset",
        provider="apikley", state=state,  # type: ignore[arg-type]
        request={"model": "m", "input": {"prompt": f"prompt {n}", "seed": n}},
        task_id=f"task-{n}", submitted_at="2024-05-01T10:00:00Z",
        completed_at="2024-05-01T10:01:00Z",
        images=(LockedImage(f"out/{n}.png", SHA, 1000 + n, f"https://cdn.example/{n}.png"),))


ENTRIES = [entry(3), entry(1), entry(2, address="asset[n=1]"), entry(10)]
HEADER = json.dumps({"seedflow_lock": 1, "generated_by": f"seedflow {__version__}",
                     "note": NOTE}, separators=(",", ":"))


def lines_of(*raw: str) -> str:
    return "".join(line + "\n" for line in raw)


# --- writing -------------------------------------------------------------------------------

def test_round_trip() -> None:
    text = lock_text(ENTRIES)
    assert parse_lock(text, "x.lock") == {e.fingerprint: e for e in ENTRIES}


def test_round_trip_of_every_field() -> None:
    full = LockEntry(
        fingerprint="f" * 32, address="hero[scene=dusk, seed=1]", asset="hero",
        provider="modellix", state="submitted", request={"prompt": "é ✓", "size": "2048x2048"},
        task_id="t-1", submitted_at="2024-05-01T10:00:00Z", completed_at=None,
        result_urls=("https://cdn.example/a.png",), images=(), error="timeout", attempts=3,
        unsent={"seed": 1})
    assert parse_lock(lock_text([full]), "x.lock") == {full.fingerprint: full}
    assert "é ✓" in lock_text([full])  # UTF-8, not \\u escapes: readable diffs


def test_bytes_are_deterministic_and_sorted() -> None:
    text = lock_text(ENTRIES)
    assert text == lock_text(reversed(ENTRIES))
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[0] == HEADER
    addresses = [(json.loads(line)["address"], json.loads(line)["fingerprint"])
                 for line in lines[1:]]
    assert addresses == sorted(addresses)
    assert [a for a, _ in addresses] == ["asset[n=10]", "asset[n=1]", "asset[n=1]",
                                        "asset[n=3]"]
    assert list(json.loads(lines[1])) == [
        "fingerprint", "address", "asset", "provider", "state", "task_id", "submitted_at",
        "completed_at", "attempts", "request", "images"]


def test_adding_one_entry_adds_exactly_one_line() -> None:
    before = lock_text(ENTRIES).splitlines()
    after = lock_text([*ENTRIES, entry(5)]).splitlines()
    diff = [d for d in difflib.ndiff(before, after) if d[:2] in ("+ ", "- ")]
    assert diff == ["+ " + entry(5).line()]


def test_changing_one_entry_changes_exactly_one_line() -> None:
    before = lock_text(ENTRIES).splitlines()
    after = lock_text([*ENTRIES[1:], ENTRIES[0].evolve(attempts=2)]).splitlines()
    diff = [d for d in difflib.ndiff(before, after) if d[:2] in ("+ ", "- ")]
    assert len(diff) == 2
    assert diff[0].startswith("- ") and diff[1].startswith("+ ")


# --- reading: every failure mode -----------------------------------------------------------

GOOD = entry(1).line()
CORRUPT = {
    "empty": ("", "x.lock is empty. A lockfile always has a header line; restore it from git, "
                  "or delete it only if you mean to regenerate everything (paid)"),
    "garbage": ("garbage\n", "x.lock:1: not a seedflow lockfile (no `seedflow_lock` header). "
                             "Is --lock pointing at the right file?"),
    "json-without-header": (lines_of(GOOD), "x.lock:1: not a seedflow lockfile (no "
                                            "`seedflow_lock` header). Is --lock pointing at the "
                                            "right file?"),
    "newer-format": (lines_of('{"seedflow_lock":2}', GOOD),
                     "x.lock:1: lockfile format 2 was written by a newer seedflow (this one "
                     "reads format 1); upgrade seedflow"),
    "format-as-text": (lines_of('{"seedflow_lock":"1"}', GOOD),
                       "x.lock:1: unknown lockfile format '1'"),
    "format-as-bool": (lines_of('{"seedflow_lock":true}', GOOD),
                       "x.lock:1: unknown lockfile format True"),
    "format-zero": (lines_of('{"seedflow_lock":0}', GOOD), "x.lock:1: unknown lockfile format 0"),
    "conflict": (lines_of(HEADER, GOOD, "<<<<<<< HEAD", entry(2).line(), "=======",
                          entry(3).line(), ">>>>>>> feature"),
                 "x.lock:3: the lockfile has git merge conflict markers. Redo the merge with "
                 "seedflow's merge driver (docs/ci.md, \"A lockfile that already has conflict "
                 "markers\"), which combines both sides' entries, then run plan again"),
    "duplicate": (lines_of(HEADER, GOOD, entry(2).line(), GOOD),
                  f"x.lock:4: fingerprint {1:032x} appears twice; restore the lockfile from git, "
                  "or delete the line of the older task"),
    "bad-json-entry": (lines_of(HEADER, GOOD, '{"fingerprint": '),
                       "x.lock:3: not valid JSON (Expecting value); the lockfile is corrupt. "
                       "Restore it from git rather than deleting it"),
    "bad-state": (lines_of(HEADER, GOOD.replace('"succeeded"', '"done"')),
                  "x.lock:2: invalid entry: `state` must be one of uncertain, submitted, "
                  "succeeded, failed, not 'done'"),
    "attempts-not-a-number": (lines_of(HEADER, GOOD.replace('"attempts":1', '"attempts":"x"')),
                              "x.lock:2: invalid entry: `attempts` must be a whole number"),
    "images-not-a-list": (lines_of(HEADER, GOOD.replace('"images":[', '"images":5,"x":[')),
                          "x.lock:2: invalid entry: `images` must be a list"),
    "unsent-not-an-object": (lines_of(HEADER, GOOD.replace('"images":', '"unsent":[1],'
                                                                        '"images":')),
                             "x.lock:2: invalid entry: `unsent` must be an object"),
    "no-task-id": (lines_of(HEADER, GOOD.replace('"task-1"', "null")),
                   "x.lock:2: invalid entry: state 'succeeded' needs a task_id"),
    "bad-sha": (lines_of(HEADER, GOOD.replace(SHA, "abc")),
                "x.lock:2: invalid entry: an image needs `size` (bytes) and a 64-hex `sha256`"),
    "entry-not-an-object": (lines_of(HEADER, "[1, 2]"),
                            "x.lock:2: invalid entry: an entry must be a JSON object"),
}


@pytest.mark.parametrize("text, message", CORRUPT.values(), ids=CORRUPT.keys())
def test_parse_refuses_corrupt_text(text: str, message: str) -> None:
    with pytest.raises(LockError) as info:
        parse_lock(text, "x.lock")
    assert str(info.value) == message


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "x.lock").write_bytes(HEADER.encode() + b"\n\xff\xfe\n")
    with pytest.raises(LockError) as info:
        read_lock(Path("x.lock"))
    assert str(info.value) == ("x.lock is not UTF-8 text: the lockfile is corrupt. Restore it "
                               "from git (`git checkout -- FILE`) rather than deleting it")


def test_a_missing_lockfile_is_an_empty_lock() -> None:
    lock = read_lock(Path("nothing.lock"))
    assert lock.entries == {}
    assert lock.journal_events == 0


def test_blank_lines_are_tolerated() -> None:
    assert list(parse_lock(lines_of(HEADER, "", GOOD, ""), "x.lock")) == [f"{1:032x}"]


def test_entry_from_json_accepts_its_own_output() -> None:
    for e in ENTRIES:
        assert entry_from_json(json.loads(e.line())) == e


PIPELINE = """\
    version: 1
    assets:
      a:
        prompt: "p {{ n }}"
        output: "a-{{ n }}.png"
        matrix:
          n: [1, 2]
"""


@pytest.mark.parametrize("text, message", CORRUPT.values(), ids=CORRUPT.keys())
def test_plan_on_a_corrupt_lock_is_an_error_never_everything_new(
        write_pipeline: WritePipeline, run: Run, text: str, message: str,
        tmp_path: Path) -> None:
    path = write_pipeline(PIPELINE)
    (tmp_path / "p.lock").write_text(text, encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    for fmt in ("text", "json"):
        result = run("plan", path, "--format", fmt, "--detailed-exitcode")
        assert result.code == 1
        assert result.out == ""
        assert result.err == "error: " + message.replace("x.lock", "p.lock") + "\n"
        assert "create" not in result.text
        assert_no_traceback(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_plan_with_explicit_lock_path(write_pipeline: WritePipeline, run: Run,
                                      tmp_path: Path) -> None:
    path = write_pipeline(PIPELINE)
    (tmp_path / "other.lock").write_text("garbage\n")
    result = run("plan", path, "--lock", "other.lock")
    assert result.code == 1
    assert result.err.startswith("error: other.lock:1: not a seedflow lockfile")


# --- the journal -----------------------------------------------------------------------------

def put(e: LockEntry) -> str:
    return json.dumps({"put": e.to_json()}, separators=(",", ":"))


def test_journal_replay_puts_and_drops(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(lock_text([entry(1), entry(2)]))
    journal_path(lock).write_text(lines_of(put(entry(3)), json.dumps({"drop": f"{1:032x}"}),
                                           put(entry(2).evolve(attempts=7))))
    loaded = read_lock(lock)
    assert loaded.journal_events == 3
    assert sorted(loaded.entries) == [f"{2:032x}", f"{3:032x}"]
    assert loaded.entries[f"{2:032x}"].attempts == 7


def test_journal_without_a_lockfile(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    journal_path(lock).write_text(lines_of(put(entry(4))))
    assert list(read_lock(lock).entries) == [f"{4:032x}"]


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(lock_text([entry(1)]))
    journal_path(lock).write_text(lines_of(put(entry(2))) + put(entry(3))[:40])
    loaded = read_lock(lock)
    assert loaded.journal_events == 1
    assert sorted(loaded.entries) == [f"{1:032x}", f"{2:032x}"]


@pytest.mark.parametrize("bad", ['{"put": {"fingerprint": "x"}}', "{not json", '{"other": 1}',
                                 ""])
def test_a_corrupt_journal_line_in_the_middle_is_refused(tmp_path: Path, bad: str) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(lock_text([entry(1)]))
    journal_path(lock).write_text(lines_of(put(entry(2)), bad, put(entry(3))))
    with pytest.raises(LockError) as info:
        read_lock(lock)
    message = str(info.value)
    assert message.startswith(f"{journal_path(lock)}:2: unreadable journal event (")
    assert message.endswith("the journal is corrupt. Move it aside and run `seedflow plan` to "
                            "see what is lost")


def test_a_writer_after_a_torn_write_keeps_the_journal_readable(tmp_path: Path) -> None:
    """A crash mid-append leaves a torn last line; the next apply's appends must not be glued
    onto it (that would turn a harmless torn tail into a corrupt middle line, losing the new
    events and making the lock unreadable)."""
    lock = tmp_path / "x.lock"
    lock.write_text(lock_text([entry(1)]))
    journal_path(lock).write_text(lines_of(put(entry(2))) + put(entry(3))[:40])
    with LockWriter(lock) as writer:
        writer.append([entry(4)])
    loaded = read_lock(lock)  # no compaction: the journal alone must carry entry 4
    assert sorted(loaded.entries) == [f"{1:032x}", f"{2:032x}", f"{4:032x}"]


def test_writer_appends_then_compacts(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with LockWriter(lock) as writer:
        writer.append([entry(1), entry(2)])
        with writer.batch():
            writer.append([entry(3)])
            writer.drop([f"{1:032x}"])
        assert read_lock(lock).journal_events == 4
        assert not lock.exists()
        writer.compact()
        assert lock.read_text() == lock_text([entry(2), entry(3)])
        assert read_lock(lock).journal_events == 0
    assert not journal_path(lock).exists()
    assert read_lock(lock).entries == {e.fingerprint: e for e in (entry(2), entry(3))}


def test_a_second_writer_is_refused_and_told_who_holds_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with LockWriter(lock):
        with pytest.raises(LockError) as info:
            LockWriter(lock)
        message = str(info.value)
        assert message.startswith(f"{lock} is in use by pid {os.getpid()} on ")
        assert message.endswith("Wait for it to finish (one apply per lockfile at a time)")
    with LockWriter(lock) as again:  # released on close
        assert again.lock.entries == {}


def test_a_writer_on_a_corrupt_lock_fails_and_releases_it(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("garbage\n")
    with pytest.raises(LockError, match="not a seedflow lockfile"):
        LockWriter(lock)
    lock.write_text(lock_text([entry(1)]))
    with LockWriter(lock) as writer:
        assert list(writer.lock.entries) == [f"{1:032x}"]
