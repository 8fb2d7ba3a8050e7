"""The waits between polls, which a provider callback or a stop can cut short.

A callback (signed or not) never puts a result in the lock itself: it only ends the wait before
the next poll, and that poll confirms the task's state with the provider. A stop (^C, SIGTERM)
ends every wait at once, so a stopping apply does not sit out its poll intervals.

Anyone who reaches the receiver can send callbacks, so what they leave behind is bounded: news
is kept for the tasks this apply polls, and for at most ``EARLY`` others (a callback can come
before its task's first poll); the ids of other tasks are forgotten, oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seedflow.providers.base import TaskState

Callbacks = asyncio.Queue[tuple[str, TaskState]]
EARLY = 64
"""Callbacks remembered for tasks not polled (yet): a task's news may beat its first poll."""


class Wakeups:
    """Waits between polls that a callback for the task can cut short."""

    def __init__(self, callbacks: Callbacks | None) -> None:
        self.callbacks = callbacks
        self._polled: set[str] = set()   # the tasks this apply polls
        self._woken: set[str] = set()    # polled tasks with news that came mid-poll
        self._early: dict[str, None] = {}  # news for other ids, oldest first, at most EARLY
        self._waiting: dict[str, asyncio.Event] = {}
        self._stop = asyncio.Event()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def remembered(self) -> int:
        """How many task ids the wake-up state holds: at most the tasks polled plus EARLY."""
        return len(self._polled) + len(self._early)

    def stop(self) -> None:
        """End every wait now, and every later one at once."""
        self._stop.set()
        for event in self._waiting.values():
            event.set()

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[Wakeups]:
        """Route callbacks to waiting polls while the block runs."""
        listener = asyncio.create_task(self._listen()) if self.callbacks else None
        try:
            yield self
        finally:
            if listener:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def sleep(self, seconds: float, early: asyncio.Event | None = None) -> None:
        """Sleep, unless and until a stop (or ``early``) comes."""
        await _first(seconds, self._stop, early)

    async def pause(self, task_id: str, seconds: float,
                    early: asyncio.Event | None = None) -> bool:
        """Sleep until the next poll, or until a callback says the task has news or a stop
        comes (True: the wait was ended by either), or ``early`` is set (the poll schedule
        learnt something)."""
        if self.stopped:
            return True
        if self.callbacks is None:
            await self.sleep(seconds, early)
            return self.stopped
        self._polled.add(task_id)
        # news came while the poll was in flight, or before the task's first poll
        news = task_id in self._woken or task_id in self._early
        self._woken.discard(task_id)
        self._early.pop(task_id, None)
        if news:
            return True
        event = self._waiting[task_id] = asyncio.Event()
        try:
            await _first(seconds, event, early)
            return event.is_set()
        finally:
            self._waiting.pop(task_id, None)
            self._woken.discard(task_id)

    async def _listen(self) -> None:
        assert self.callbacks is not None
        while True:
            task_id, _ = await self.callbacks.get()
            if task_id not in self._polled:
                self._early.pop(task_id, None)
                self._early[task_id] = None
                if len(self._early) > EARLY:
                    del self._early[next(iter(self._early))]
                continue
            self._woken.add(task_id)
            event = self._waiting.get(task_id)
            if event:
                event.set()


async def _first(seconds: float, event: asyncio.Event, other: asyncio.Event | None) -> None:
    """Wait until ``event`` or ``other`` is set, or for ``seconds``."""
    if other is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        return
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
