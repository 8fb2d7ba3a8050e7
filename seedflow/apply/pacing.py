"""How fast to go: client-side create pacing, retry backoff and adaptive polling."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import deque
from collections.abc import Awaitable
from typing import TypeVar

Ticket = list[float]
"""One start's time, updated in place when its answer arrives."""
T = TypeVar("T")

class RateLimiter:
    """At most ``count`` starts in any ``window`` seconds (a sliding window, as providers count).

    A start counts from when it was let go until its answer arrives, then from the answer: the
    provider saw the request at some moment before that, so whatever delayed the request on
    the way (the intent's fsync, a new connection, a busy machine) cannot crowd the provider's
    window. A small margin keeps us clear of the provider's own clock; at the limit, starts are
    spaced so that the window is always full but never over.
    """

    MARGIN = 0.05

    def __init__(self, rate: tuple[int, float] | None) -> None:
        self.rate = rate
        self._starts: deque[Ticket] = deque()
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> Ticket:
        """Wait until a start fits; pass the ticket to :meth:`send` with the request."""
        ticket = [time.monotonic()]
        if self.rate is None:
            # no published limit: only a provider's Retry-After holds every start back
            while (pause := self._not_before - time.monotonic()) > 0:
                await asyncio.sleep(pause)
            ticket[0] = time.monotonic()
            return ticket
        count, window = self.rate
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._not_before:
                    await asyncio.sleep(self._not_before - now)
                    continue
                while self._starts and self._starts[0][0] <= now - window - self.MARGIN:
                    self._starts.popleft()
                if len(self._starts) < count:
                    ticket[0] = now
                    self._starts.append(ticket)
                    return ticket
                await asyncio.sleep(max(0.0, self._starts[0][0] + window + self.MARGIN - now))

    async def send(self, ticket: Ticket, request: Awaitable[T]) -> T:
        """Await the request; from its answer (or failure) on, the start counts from then."""
        try:
            return await request
        finally:
            ticket[0] = time.monotonic()

    def push_back(self, seconds: float) -> None:
        """The provider said 429 (with Retry-After): start nothing for ``seconds``."""
        self._not_before = max(self._not_before, time.monotonic() + seconds)


def backoff_delay(attempt: int, base: float, *, cap: float = 60.0,
                  retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; the provider's Retry-After wins when given."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), 600.0) + random.uniform(0, base / 4)
    return random.uniform(0, min(cap, base * 2**attempt))


class PollSchedule:
    """Adaptive polling: first look near the expected generation time, then back off.

    The expected time is learnt from the tasks that finished in this run (their median time to
    success), starting from the configured first delay. Later polls come at a growing fraction
    of it, up to ``max_poll``; a task that takes far longer than usual is polled rarely.
    """

    def __init__(self, first: float, maximum: float) -> None:
        self.first = first
        self.maximum = max(maximum, first)
        self._seen: deque[float] = deque(maxlen=50)

    def expected(self) -> float:
        return statistics.median(self._seen) if self._seen else self.first

    def delay(self, polls_done: int, elapsed: float) -> float:
        expected = self.expected()
        if polls_done == 0:
            return max(0.05, expected - elapsed)
        step = max(0.1, expected * 0.1) * 1.6 ** (polls_done - 1)
        return min(self.maximum, step)

    def finished(self, took: float) -> None:
        self._seen.append(took)
