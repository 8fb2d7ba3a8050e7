"""read_lock(only=...): entries a run cannot touch are kept as their original lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from seedflow.errors import LockError
from seedflow.lock.format import lock_text
from seedflow.lock.model import LockedImage, LockEntry
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter


def entry(n: int, address: str | None = None) -> LockEntry:
    fp = hashlib.sha256(str(n).encode()).hexdigest()[:32]
    return LockEntry(fingerprint=fp, address=address or f"a[n={n}]", asset="a",
                     provider="sim", state="succeeded", request={"prompt": f"p {n} é \""},
                     task_id=f"t{n}", images=(LockedImage(f"out/{n}.png", "0" * 64, 1, "u"),))


def test_untouched_lines_are_written_back_exactly(tmp_path: Path) -> None:
    entries = [entry(n) for n in range(50)] + [entry(99, 'a[n="odd, name"] é')]
    path = tmp_path / "p.lock"
    path.write_text(lock_text(entries))
    before = path.read_bytes()
    wanted = {entries[3].fingerprint}

    with LockWriter(path, only=wanted) as writer:
        assert set(writer.lock.entries) == wanted
        assert len(writer.lock.unparsed) == len(entries) - 1
        writer.append([entries[3].evolve(attempts=2)])
        writer.compact()

    after = path.read_bytes().decode().splitlines()
    assert after == [line.replace('"attempts":1', '"attempts":2') if entries[3].fingerprint
                     in line else line for line in before.decode().splitlines()]
    assert read_lock(path).entries[entries[3].fingerprint].attempts == 2  # fully valid again


def test_duplicates_are_caught_between_parsed_and_unparsed_lines(tmp_path: Path) -> None:
    one = entry(1)
    path = tmp_path / "p.lock"
    text = lock_text([one])
    path.write_text(text + text.splitlines()[1] + "\n")
    for only in (set(), {one.fingerprint}):
        with pytest.raises(LockError, match="appears twice"):
            read_lock(path, only=only)


def test_journal_events_reach_unparsed_entries(tmp_path: Path) -> None:
    kept, dropped = entry(1), entry(2)
    path = tmp_path / "p.lock"
    path.write_text(lock_text([kept, dropped]))
    journal = tmp_path / "p.lock.journal"
    journal.write_text(json.dumps({"drop": dropped.fingerprint}) + "\n")
    lock = read_lock(path, only=set())
    assert set(lock.unparsed) == {kept.fingerprint}


def test_an_apply_leaves_history_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    from seedflow.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.05")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.05")
    (tmp_path / "p.yaml").write_text("version: 1\nprovider: sim\noutput_dir: out\nassets:\n"
                                     "  a:\n    prompt: new\n    output: new.png\n")
    history = [entry(n) for n in range(20)]
    (tmp_path / "p.lock").write_text(lock_text(history))
    old_lines = set((tmp_path / "p.lock").read_text().splitlines()[1:])

    assert main(["apply", "p.yaml"]) == 0

    lines = (tmp_path / "p.lock").read_text().splitlines()[1:]
    assert old_lines <= set(lines) and len(lines) == len(history) + 1
    assert len(read_lock(tmp_path / "p.lock").entries) == len(history) + 1
