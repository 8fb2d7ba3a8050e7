"""Lockfiles and journals from pull requests cannot exhaust the stack, memory or time: a
line's length, its JSON nesting and its numbers have limits (seedflow.limits), each refused by
plan and apply as a LockError at FILE:LINE, before anything is sent or written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback, combos_of, entry_for
from limitkit import measured, snapshot

from seedflow.lock.format import lock_text
from seedflow.lock.journal import journal_path, put_event

PIPELINE = """
    version: 1
    provider: sim
    output_dir: out
    assets:
      a:
        prompt: a photo of {{ thing }}
        matrix: {thing: [cup, lamp]}
        output: "{{ thing }}.png"
"""
NOT_OURS = ": seedflow did not write this line; restore the lockfile from git"
DEEP = f"its JSON nests more than 68 levels deep{NOT_OURS}"
LONG_NUMBER = ("a number has more digits than Python converts (a size, a seed or a count has "
               f"at most 19){NOT_OURS}")


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def bad_request(kind: str) -> str:
    """An entry's JSON with its request replaced by something past a limit."""
    return {"deep": '{"x":' + nested(100_000) + "}",
            "deep-but-parsable": '{"x":' + nested(500) + "}",
            "long-number": '{"seed":' + "9" * 100_000 + "}",
            "long-line": '{"prompt":"' + "x" * (2**20 + 10) + '"}'}[kind]


MESSAGES = {"deep": DEEP, "deep-but-parsable": DEEP, "long-number": LONG_NUMBER,
            "long-line": "the line is {n:,} characters long, and an entry is at most "
                         f"1,048,576{NOT_OURS}"}


def lock_with(path: Path, kind: str) -> str:
    """A lock whose second entry (line 3) carries the bad request."""
    good, bad = (entry_for(c).line() for c in combos_of(path))
    start = bad.index('"request":') + len('"request":')
    end = bad.index(',"images":')
    lines = [*lock_text([]).splitlines(), good, bad[:start] + bad_request(kind) + bad[end:]]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", list(MESSAGES))
def test_an_entry_past_a_limit_is_refused_at_its_line(write_pipeline: WritePipeline, run: Run,
                                                      tmp_path: Path, kind: str) -> None:
    path = write_pipeline(PIPELINE)
    text = lock_with(path, kind)
    Path("p.lock").write_text(text, encoding="utf-8")
    message = MESSAGES[kind].replace("{n:,}", f"{len(text.splitlines()[2]):,}")
    before = snapshot(tmp_path)
    for command in (["plan"], ["apply", "--yes"], ["verify"]):
        started = time.monotonic()
        result = run(*command, path)
        assert time.monotonic() - started < 5
        assert result.code == 1, result.text
        assert result.err == f"error: p.lock:3: invalid entry: {message}\n"
        assert_no_traceback(result)
    assert snapshot(tmp_path) == before


def test_memory_stays_small_while_refusing(write_pipeline: WritePipeline,
                                           tmp_path: Path) -> None:
    path = write_pipeline(PIPELINE)
    Path("p.lock").write_text(lock_with(path, "long-number"), encoding="utf-8")
    before = snapshot(tmp_path)
    result = measured("apply", path, "--yes", cwd=tmp_path)
    assert (result.code, result.err) == (1, f"error: p.lock:3: invalid entry: {LONG_NUMBER}\n")
    assert result.peak_mb < 150 and result.seconds < 10
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["deep", "long-number", "long-line"])
def test_a_journal_event_past_a_limit_is_refused(write_pipeline: WritePipeline, run: Run,
                                                 tmp_path: Path, kind: str) -> None:
    path = write_pipeline(PIPELINE)
    lock = Path("p.lock")
    lock.write_text(lock_text([]), encoding="utf-8")
    good, _ = (put_event(entry_for(c)) for c in combos_of(path))
    event = json.loads(good)
    text = json.dumps(event, separators=(",", ":")).replace(
        json.dumps(event["put"]["request"], separators=(",", ":")), bad_request(kind))
    journal_path(lock).write_text(good + "\n" + text + "\n", encoding="utf-8")
    before = snapshot(tmp_path)
    for command in (["plan"], ["apply", "--yes"]):
        result = run(*command, path)
        assert result.code == 1, result.text
        assert result.err.startswith("error: p.lock.journal:2: unreadable journal event (")
        assert "the journal is corrupt" in result.err
        assert_no_traceback(result)
    assert snapshot(tmp_path) == before


def test_a_header_past_a_limit_is_not_a_lockfile(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline(PIPELINE)
    Path("p.lock").write_text('{"seedflow_lock":' + "1" * 5000 + "}\n", encoding="utf-8")
    result = run("plan", path)
    assert result.code == 1
    assert result.err.startswith("error: p.lock:1: not a seedflow lockfile")
