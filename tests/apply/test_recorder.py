"""The recorder: every ``record`` returns only once its entry is durable, entries that arrive
together share one fsync (group commit), and the journal is folded into the lock as it grows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from seedflow.apply import recorder as recorder_module
from seedflow.apply.recorder import Recorder
from seedflow.lock.journal import Journal, journal_path
from seedflow.lock.model import LockEntry, State
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter


def entry(n: int, state: State = State.SUBMITTED) -> LockEntry:
    return LockEntry(fingerprint=f"{n:032x}", address=f"a[n={n}]", asset="a", provider="sim",
                     state=state, request={"prompt": str(n)}, task_id=f"t{n}")


def count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    syncs: list[int] = []
    real = Journal.sync

    def sync(self: Journal) -> None:
        syncs.append(1)
        real(self)

    monkeypatch.setattr(Journal, "sync", sync)
    return syncs


def test_entries_recorded_together_share_fsyncs_and_are_all_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = count_syncs(monkeypatch)
    lock = tmp_path / "p.lock"

    async def record_many() -> None:
        recorder = Recorder(writer)
        await asyncio.gather(*(recorder.record(entry(n)) for n in range(100)))

    with LockWriter(lock) as writer:
        asyncio.run(record_many())
        durable = read_lock(lock)   # what a crash right now would leave: lock + journal

    assert sorted(durable.entries) == sorted(entry(n).fingerprint for n in range(100))
    assert 1 <= len(syncs) < 10     # group commit: not one fsync per entry


def test_a_drop_is_durable_too(tmp_path: Path) -> None:
    lock = tmp_path / "p.lock"

    async def record_then_drop() -> None:
        recorder = Recorder(writer)
        await recorder.record(entry(1, State.UNCERTAIN))
        await recorder.record(entry(2))
        await recorder.drop(entry(1).fingerprint)

    with LockWriter(lock) as writer:
        asyncio.run(record_then_drop())
        assert list(read_lock(lock).entries) == [entry(2).fingerprint]


def test_the_journal_is_folded_into_the_lock_once_it_outgrows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compaction comes when the journal has more events than both COMPACT_AFTER and the lock
    has entries, so its cost per event stays constant however big the lock is."""
    monkeypatch.setattr(recorder_module, "COMPACT_AFTER", 10)
    lock = tmp_path / "p.lock"

    async def record_progress() -> None:
        recorder = Recorder(writer)
        for _ in range(10):              # three tasks, each reporting progress ten times
            for n in range(3):
                await recorder.record(entry(n))

    with LockWriter(lock) as writer:
        asyncio.run(record_progress())
        journal_lines = journal_path(lock).read_text().count("\n")

    assert journal_lines <= 10           # folded into the lockfile on the way
    assert lock.read_text().count("\n") == 4   # header + three entries
    assert len(read_lock(lock).entries) == 3


def test_a_failed_write_reaches_every_waiting_caller(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(self: Journal, events: list[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "write", full_disk)

    async def record_two() -> list[BaseException | None]:
        recorder = Recorder(writer)
        return await asyncio.gather(recorder.record(entry(1)), recorder.record(entry(2)),
                                    return_exceptions=True)

    with LockWriter(tmp_path / "p.lock") as writer:
        results = asyncio.run(record_two())

    assert [type(r) for r in results] == [OSError, OSError]
