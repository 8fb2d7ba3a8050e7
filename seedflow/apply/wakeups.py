"""Provider callbacks wake a task's poll early.

A callback (signed or not) never puts a result in the lock itself: it only ends the wait before
the next poll, and that poll confirms the task's state with the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seedflow.providers.base import TaskState

Callbacks = asyncio.Queue[tuple[str, TaskState]]


class Wakeups:
    """Waits between polls that a callback for the task can cut short."""

    def __init__(self, callbacks: Callbacks | None) -> None:
        self.callbacks = callbacks
        self._woken: set[str] = set()
        self._waiting: dict[str, asyncio.Event] = {}

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

    async def pause(self, task_id: str, seconds: float) -> None:
        """Sleep until the next poll, or until a callback says the task has news."""
        if self.callbacks is None:
            await asyncio.sleep(seconds)
            return
        if task_id in self._woken:  # news came while the poll was in flight
            self._woken.discard(task_id)
            return
        event = self._waiting[task_id] = asyncio.Event()
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiting.pop(task_id, None)
            self._woken.discard(task_id)

    async def _listen(self) -> None:
        assert self.callbacks is not None
        while True:
            task_id, _ = await self.callbacks.get()
            self._woken.add(task_id)
            event = self._waiting.get(task_id)
            if event:
                event.set()
