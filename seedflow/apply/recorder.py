"""Durable progress for a running apply: group commit over the lock journal.

Callers ``await record(entry)``; the call returns once the entry is fsync'd. Entries that
arrive while a write is in progress go into the next write together (group commit, as
databases do), so a hundred tasks finishing at once cost a few fsyncs, not a hundred, and the
event loop never waits on the disk (writes run in a worker thread). The journal is folded into
the lockfile when it grows past the lock's own size, so its replay stays short and the amortised
cost per event stays constant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from seedflow.lock.model import LockEntry
from seedflow.lock.writer import LockWriter

COMPACT_AFTER = 1000


class Recorder:
    def __init__(self, writer: LockWriter) -> None:
        self.writer = writer
        self._pending: list[tuple[Callable[[], None], asyncio.Future[None]]] = []
        self._busy = False

    async def record(self, entry: LockEntry) -> None:
        await self._submit(lambda: self.writer.append([entry]))

    async def drop(self, fingerprint: str) -> None:
        await self._submit(lambda: self.writer.drop([fingerprint]))

    async def _submit(self, write: Callable[[], None]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self._write, [write for write, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._busy = False

    def _write(self, writes: list[Callable[[], None]]) -> None:
        with self.writer.batch():
            for write in writes:
                write()
        if self.writer.lock.journal_events > max(COMPACT_AFTER, len(self.writer.lock.entries)):
            self.compact()

    def compact(self) -> None:
        self.writer.compact()
