"""How fast to go: client-side create pacing, retry backoff and adaptive polling."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
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
                if self._in_window(now, window) < count:
                    ticket[0] = now
                    self._starts.append(ticket)
                    return ticket
                await asyncio.sleep(max(0.0, self._starts[0][0] + window + self.MARGIN - now))

    def ready(self) -> bool:
        """Whether a start would be let go now, without waiting."""
        now = time.monotonic()
        if now < self._not_before:
            return False
        if self.rate is None:
            return True
        count, window = self.rate
        return not self._lock.locked() and self._in_window(now, window) < count

    def _in_window(self, now: float, window: float) -> int:
        """How many starts still count at ``now`` (the older ones are forgotten)."""
        while self._starts and self._starts[0][0] <= now - window - self.MARGIN:
            self._starts.popleft()
        return len(self._starts)

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


Rate = tuple[int, float]
"""``(count, seconds)``: at most ``count`` creates in any ``seconds`` window."""


@dataclass(frozen=True)
class RateShare:
    """This apply is number ``k`` (1-based; 0: unknown) of ``len(weights)`` applies that run at
    once on one account, each with ``weights[i]`` combinations to create."""

    k: int
    weights: tuple[int, ...]


def shared_rate(rate: Rate | None, share: RateShare | None) -> Rate | None:
    """This apply's part of an account's create ``rate``.

    The ``count`` creates per window are apportioned to the applies in proportion to their
    weights (largest remainder; every apply computes the same split from the same weights), so
    together they never offer more than the account takes: each keeps its own sliding window, and
    their sum in any window is at most the sum of their parts. An apply of unknown position takes
    ``count // m``. With fewer creates per window than applies (or a part that rounds to
    nothing), an apply sends one create per ``m / count`` windows: the average, no longer a hard
    guarantee (a rare 429 is then waited out).
    """
    if rate is None or share is None or len(share.weights) <= 1:
        return rate
    count, window = rate
    m = len(share.weights)
    if count < m:
        return 1, window * m / count
    part = apportion(count, share.weights)[share.k - 1] if 1 <= share.k <= m else count // m
    return (part, window) if part else (1, window * m / count)


def apportion(count: int, weights: tuple[int, ...]) -> list[int]:
    """``count`` split in proportion to ``weights`` (equally if they are all 0), whole numbers
    that add up to ``count``: largest remainders first, ties to the larger weight, then the
    earlier one."""
    total = sum(weights)
    shares = [count * (w if total else 1) / (total or len(weights)) for w in weights]
    parts = [int(share) for share in shares]
    order = sorted(range(len(weights)),
                   key=lambda i: (parts[i] - shares[i], -weights[i], i))
    for i in order[:count - sum(parts)]:
        parts[i] += 1
    return parts


class PollSchedule:
    """When to look at a task again, learnt from how long this run's tasks took.

    What is learnt is each succeeded task's generation time as the provider reported it (the
    median of the last 50, so a few absurd answers do not move it); when a provider reports
    none, the middle of the interval between the last poll that saw it running and the one that
    saw it done. A task is first looked at when it reaches the expected time, then again after
    a fraction of the time it has taken so far (so a slow task costs a few polls, not one every
    couple of seconds), never less often than every ``maximum`` seconds.

    Until something is learnt, at most :attr:`SCOUTS` tasks *scout*: they look early (near
    ``PROBE``, or the provider's ``first`` hint if sooner) and then each time a fixed fraction
    of their age has passed, their looks interleaved, so the first success is seen soon after
    it happens whatever the generation time. The other tasks wait until the scouts learn
    something, or ``maximum`` if they never do. :attr:`learnt` wakes every waiting task, the
    other scouts too, to wait again for the expected time: a task that has not been looked at
    since reaching it is looked at then, or at once if it is older.
    """

    SCOUTS = 3
    PROBE = 0.25         # a scout's first look, seconds
    SCOUT_STEP = 0.2     # a scout looks again after this fraction of its age
    STEP = 0.15          # after the expected time: again after this fraction of the age
    SHORTEST = 0.005     # no two looks at one task closer than this

    def __init__(self, first: float, maximum: float) -> None:
        self.first = first
        self.maximum = max(maximum, first, self.SHORTEST)
        self.learnt = asyncio.Event()
        self._seen: deque[float] = deque(maxlen=50)
        self._scouts: set[int] = set()

    def expected(self) -> float | None:
        """The expected generation time, or None while nothing is learnt."""
        return statistics.median(self._seen) if self._seen else None

    def enlist(self) -> int | None:
        """The scout number of a task starting to be polled now, or None if it does not scout
        (pass it to :meth:`dismiss` when its polling ends)."""
        if self._seen or len(self._scouts) >= self.SCOUTS:
            return None
        number = min(set(range(self.SCOUTS)) - self._scouts)
        self._scouts.add(number)
        return number

    def dismiss(self, number: int) -> None:
        self._scouts.discard(number)

    def delay(self, polls_done: int, age: float, *, scout: int | None = None,
              last_look: float = 0.0) -> float:
        """Seconds until the next look at a task polled ``polls_done`` times, ``age`` seconds
        after it was created, that was last looked at ``last_look`` seconds after it was
        created (0: never; ``scout``: its number, from :meth:`enlist`)."""
        expected = self.expected()
        if expected is not None and last_look < expected:
            # not looked at since it reached the expected time: look then (now, if that passed,
            # as for a task that waited while the scouts learnt it)
            step = expected - age
        elif expected is not None:
            step = self.STEP * age
        elif scout is not None and polls_done == 0:
            # the scouts' looks interleave: together they look SCOUTS times as often
            step = min(self.PROBE, self.first) * (1 + self.SCOUT_STEP) ** (scout / self.SCOUTS)
        elif scout is not None:
            step = self.SCOUT_STEP * age
        else:   # until the scouts learn (which wakes it), or if they never do
            step = self.maximum
        return min(self.maximum, max(self.SHORTEST, step))

    def finished(self, reported: float | None, *, running: float, done: float) -> None:
        """A task succeeded: the provider reported ``reported`` seconds (or None); the last
        poll that saw it running was at age ``running`` (0 if none), the one that saw it done
        at ``done``. A report is kept within [running, done]: it refines what the polls saw,
        never contradicts it."""
        if reported is not None:
            # trusted only within what the polls saw: a provider that reports in the wrong
            # unit (seconds read as milliseconds) must not set off a storm of early polls
            took = min(max(reported, running), done)
        elif running > 0 or not self._seen:
            took = (running + done) / 2
        else:   # done at its first look: nothing new about how much sooner it was done
            return
        self._seen.append(min(max(took, self.SHORTEST), 24 * 3600.0))
        self.learnt.set()
