"""The executor: carries out a plan's create, resume, restore and relink actions.

Each plan item is carried out by action functions that *return* how it ended (a
:class:`~seedflow.apply.progress.Finished`); :meth:`Executor._end` reports and tallies that
result in one place, so every item gets exactly one ``finished`` event. A task that finished
generating frees its worker's provider slot before its images are downloaded: the worker sends
the next item's create first (:meth:`Executor._worker`).

Money safety is the order of durable writes (each ``await recorder.record`` returns after an
fsync), tested step by step in tests/apply/test_executor.py:

1. ``uncertain`` (intent) is recorded *before* a create is sent. A crash from here until step 2
   leaves an entry that says "a task may exist": the next apply reports it and pays again only
   with ``--retry-uncertain``.
2. ``submitted`` with the task id is recorded the moment the id is known, before any polling.
   A crash from here on is resumed by polling the same task: never paid twice.
3. Each image is recorded once it is downloaded, hashed and renamed into place; the entry turns
   ``succeeded`` with its last image. A crash mid-download re-downloads (free).

A create the provider answered with "nothing created" (rate limit, 5xx, rejected request) puts
back what the lock held before. ``Ambiguous`` (the create may have been received) keeps the
intent, with the reason.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import httpx

from seedflow import failpoints
from seedflow.apply.download import DEADLINE, DownloadError, DownloadRefused, download
from seedflow.apply.files import OutputFiles
from seedflow.apply.keeping import Keeper
from seedflow.apply.pacing import (
    PollSchedule,
    RateLimiter,
    RateShare,
    backoff_delay,
    shared_rate,
)
from seedflow.apply.progress import (
    Finished,
    Hooks,
    Outcome,
    done,
    failed,
    not_started,
    stopped,
    uncertain,
)
from seedflow.apply.wakeups import Wakeups
from seedflow.errors import SeedflowError
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, Move, PlanItem
from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    GenerationFailed,
    ProviderError,
    RetryLater,
    StopAll,
    TaskNotFound,
)

NOT_SENT = "not sent: apply was stopped before this create"
Rebase = Callable[[str, str], str]   # (provider, recorded URL) → the URL to download now
Downloads = httpx.AsyncClient | Callable[[str], httpx.AsyncClient]  # one, or one per provider
T = TypeVar("T")
HANDOFF = 0.001
"""Seconds a thread waits for the GIL at most while the executor runs (_prompt_handoffs)."""


class Records(Protocol):
    """Where the executor makes entry states durable (:class:`seedflow.apply.recorder.Recorder`)."""

    async def record(self, entry: LockEntry) -> None: ...

    async def drop(self, fingerprint: str) -> None: ...


@dataclass(frozen=True)
class Settings:
    concurrency: int | None = None      # overrides every provider's own limit
    retry_uncertain: bool = False
    recreate_expired: bool = False
    generation_retries: int = 1          # extra paid attempts after a failed generation
    request_retries: int = 8             # attempts at a create/poll/download that said "later"
    retry_base: float = 1.0              # backoff base, seconds
    poll_first: float | None = None      # overrides the provider's first poll delay
    poll_max: float | None = None
    rates: Mapping[str, tuple[int, float] | None] = field(default_factory=dict)
    rate_share: RateShare | None = None  # the part of the account's rate this apply takes
    not_found_grace: float = 600.0       # seconds after submitted_at a task may be unseen
    download_deadline: float = DEADLINE  # seconds for one whole download, redirects included
    task_max_age: float = 2 * 3600.0     # seconds after submitted_at that polling gives up


@dataclass
class Tally:
    """What an apply did, by outcome, with the reasons of everything that did not finish."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    uncertain: list[tuple[str, str]] = field(default_factory=list)
    not_started: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[tuple[str, str]] = field(default_factory=list)
    unstored: list[tuple[str, str]] = field(default_factory=list)  # generated, not uploaded
    creates: int = 0
    polls: int = 0
    uploads: int = 0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.uncertain or self.not_started or self.stopped
                    or self.unstored)

    def add(self, address: str, result: Finished) -> None:
        if result.outcome is Outcome.DONE:
            self.done.append(address)
            return
        rows = {Outcome.FAILED: self.failed, Outcome.UNCERTAIN: self.uncertain,
                Outcome.NOT_STARTED: self.not_started, Outcome.STOPPED: self.stopped,
                }[result.outcome]
        rows.append((address, result.detail))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Executor:
    def __init__(self, *, files: OutputFiles, recorder: Records,
                 clients: Mapping[str, ProviderClient], downloads: Downloads,
                 settings: Settings, hooks: Hooks, rebase: Rebase = lambda provider, url: url,
                 wakeups: Wakeups | None = None, keeper: Keeper | None = None) -> None:
        self.files = files
        self.recorder = recorder
        self.clients = clients
        self.downloads = downloads
        self.settings = settings
        self.hooks = hooks
        self.rebase = rebase
        self.wakeups = wakeups or Wakeups(None)
        self.keeper = keeper
        self.tally = Tally()
        self.refused: dict[str, str] = {}   # provider → why no new creates start
        self._answered: dict[str, float] = {}  # task id → when its create was answered
        self.limiters = {name: RateLimiter(shared_rate(
                             settings.rates.get(name, c.limits.create_rate), settings.rate_share))
                         for name, c in clients.items()}
        self.schedules = {name: PollSchedule(settings.poll_first or c.limits.first_poll,
                                             settings.poll_max or c.limits.max_poll)
                          for name, c in clients.items()}

    def stop(self) -> None:
        """Stop in good order (^C, SIGTERM): no new create is sent, a create already sent is
        waited for and its task id recorded (so it is never paid twice), polls end at once
        (the tasks stay recorded; the next apply resumes them)."""
        self.wakeups.stop()

    @property
    def stopping(self) -> bool:
        return self.wakeups.stopped

    async def run(self, items: list[PlanItem]) -> Tally:
        """Carry out ``items``: paid work in one queue per provider (its own concurrency),
        free file work in another."""
        queues: dict[str, asyncio.Queue[PlanItem]] = {}
        for item in items:
            paid = item.action in (Action.CREATE, Action.RESUME) and item.combination
            key = item.combination.provider if paid and item.combination else ""
            queues.setdefault(key, asyncio.Queue()).put_nowait(item)
        workers = [self._worker(queue) for key, queue in queues.items()
                   for _ in range(self._width(key, queue.qsize()))]
        with _prompt_handoffs():
            async with self.wakeups.listening():
                await asyncio.gather(*workers)
        if self.keeper is not None:
            await self.keeper.finish()
            self.tally.unstored = self.keeper.failed
            self.tally.uploads = self.keeper.uploaded
        return self.tally

    def _width(self, provider: str, size: int) -> int:
        if not provider:
            return min(8, size)
        limit = self.settings.concurrency or self.clients[provider].limits.concurrency
        return max(1, min(limit, size))

    async def _worker(self, queue: asyncio.Queue[PlanItem]) -> None:
        """Carry out items one after another: one worker is one of the provider's slots, a
        task generating there.

        A task that has finished generating frees its slot at once: the worker sends its next
        item's create first and downloads the finished task's images while the new one
        generates (downloading is free, and the provider no longer counts the task), then polls
        the new one; when that create would have to wait (the rate limit), the images are
        downloaded first. Each step waits for the one before, so the order of the durable
        writes follows the order of the items.
        """
        collecting: tuple[PlanItem, _Collect] | None = None
        while not queue.empty():
            item = queue.get_nowait()
            self.hooks.started(item)
            if collecting is not None and not self._sends_now(item):
                await self._download_images(*collecting)   # no reason to keep the images waiting
                collecting = None
            sent = await self._guarded(self._send(item))
            if collecting is not None:
                await self._download_images(*collecting)
                collecting = None
            result = sent if isinstance(sent, Finished) else \
                await self._guarded(self._carry_out(item, sent))
            if isinstance(result, _Collect):
                collecting = item, result
            else:
                self._end(item, result)
        if collecting is not None:
            await self._download_images(*collecting)

    def _sends_now(self, item: PlanItem) -> bool:
        """Whether ``item`` is a create that would be sent without waiting."""
        combo = item.combination
        return (item.action == Action.CREATE and combo is not None and not self.stopping
                and combo.provider not in self.refused
                and self.limiters[combo.provider].ready())

    async def _download_images(self, item: PlanItem, finished: _Collect) -> None:
        self._end(item, await self._guarded(self._collect(finished.combo, finished.entry,
                                                          finished.urls)))

    async def _guarded(self, step: Awaitable[T]) -> T | Finished:
        """``step``'s result, or the item's end if the journal could not be written."""
        try:
            return await step
        except OSError as exc:   # the journal could not be written (a full disk, say)
            self.stop()
            return failed(f"cannot record progress in the lockfile ({_reason(exc)}); apply "
                          "stopped sending creates. What was recorded is safe: free room, "
                          "then run apply again")

    def _end(self, item: PlanItem, result: Finished) -> None:
        """The one place an item's result is tallied and reported."""
        self.tally.add(item.address, result)
        self.hooks.finished(item, result)

    async def _send(self, item: PlanItem) -> LockEntry | Finished | None:
        """A create item's first create request: its submitted entry, or how the item ended;
        None for any other action (nothing to send)."""
        if item.action != Action.CREATE:
            return None
        assert item.combination is not None
        return await self._send_create(item.combination, item.entry)

    async def _send_create(self, combo: Combination, previous: LockEntry | None
                           ) -> LockEntry | Finished:
        """The first create for ``combo`` (``previous``: what the lock held)."""
        if previous is not None and previous.state is State.UNCERTAIN:
            if not self.settings.retry_uncertain:
                return uncertain(previous.error or "an earlier create may have reached the "
                                 "provider; re-run with --retry-uncertain to pay for it again")
            self.hooks.retrying(combo.address, "re-sending a create whose earlier outcome is "
                                "unknown (--retry-uncertain): if the provider got it, this pays "
                                "twice")
        attempts = previous.attempts + 1 if previous is not None else 1
        return await self._submit(combo, attempts, previous)

    async def _carry_out(self, item: PlanItem, sent: LockEntry | None) -> Finished | _Collect:
        """The rest of an item once its create (if any) was sent: a finished task's images
        still to download, or how the item ended."""
        combo, entry = item.combination, item.entry
        assert combo is not None
        if item.action == Action.CREATE:
            assert sent is not None
            return await self._generate(combo, sent)
        assert entry is not None
        if item.action == Action.RESUME:
            return await self._resume(combo, entry)
        return await self._relocate(combo, entry, item.moves)

    # -- create ------------------------------------------------------------------------------

    async def _create(self, combo: Combination, previous: LockEntry | None) -> Finished:
        """Create, poll and download, one after another (a restore that must pay again)."""
        sent = await self._send_create(combo, previous)
        if isinstance(sent, Finished):
            return sent
        generated = await self._generate(combo, sent)
        if isinstance(generated, Finished):
            return generated
        return await self._collect(combo, generated.entry, generated.urls)

    async def _generate(self, combo: Combination, entry: LockEntry) -> Finished | _Collect:
        """Poll the task ``entry`` records until it ends; a failed generation is recorded and
        created again, a new paid task, up to ``generation_retries`` times."""
        for generation in range(self.settings.generation_retries + 1):
            if generation:
                sent = await self._submit(combo, entry.attempts + 1, entry)
                if isinstance(sent, Finished):
                    return sent
                entry = sent
            state = await self._poll(combo, entry)
            if isinstance(state, Finished):
                return state
            if state.status == TaskStatus.SUCCEEDED:
                return _Collect(combo, entry, state.image_urls)
            reason = _failure_text(state)
            entry = entry.evolve(state=State.FAILED, error=reason, completed_at=now_iso())
            await self.recorder.record(entry)
            if generation < self.settings.generation_retries:
                self.hooks.retrying(combo.address, f"generation failed ({reason}); trying "
                                    "again (a new paid task)")
        return failed(f"generation failed: {reason}")

    async def _submit(self, combo: Combination, attempts: int,
                      previous: LockEntry | None) -> LockEntry | Finished:
        """Send one create, the intent durable first; the submitted entry, or how it ended."""
        provider = combo.provider
        limiter = self.limiters[provider]
        intent = LockEntry(
            fingerprint=combo.fingerprint, address=combo.address, asset=combo.asset,
            provider=provider, state=State.UNCERTAIN, request=combo.request, attempts=attempts,
            unsent=combo.unsent, error="seedflow stopped while creating this task; the provider "
            "may have received it")
        for attempt in range(self.settings.request_retries):
            if self.stopping:
                return stopped(NOT_SENT)
            if provider in self.refused:
                return not_started(f"not started: {self.refused[provider]}")
            ticket = await limiter.wait()
            if self.stopping:
                return stopped(NOT_SENT)
            if provider in self.refused:  # the provider may have refused the key meanwhile
                return not_started(f"not started: {self.refused[provider]}")
            failpoints.hit("before-intent")
            await self.recorder.record(intent)
            failpoints.hit("after-intent")
            try:
                task_id = await limiter.send(ticket, self.clients[provider].submit(
                    dict(combo.request)))
            except RetryLater as exc:
                await self._put_back(combo, previous)
                await self._later(combo.address, provider, exc, attempt)
                continue
            except Ambiguous as exc:
                await self.recorder.record(intent.evolve(error=exc.message))
                return uncertain(exc.message)
            except StopAll as exc:
                await self._put_back(combo, previous)
                self.refused[provider] = exc.message
                return not_started(exc.message)
            except ProviderError as exc:  # rejected, or anything else that created nothing
                await self._put_back(combo, previous)
                return failed(exc.message)
            # cancelled mid-request (^C): the intent stays, as it must
            self._answered[task_id] = ticket[0]   # the task's age counts from the answer
            entry = intent.evolve(state=State.SUBMITTED, task_id=task_id, error=None,
                                  submitted_at=now_iso())
            await self.recorder.record(entry)
            self.tally.creates += 1
            self.hooks.submitted(combo.address, task_id)
            failpoints.hit("after-submitted")
            return entry
        await self._put_back(combo, previous)
        return failed(f"{provider} kept asking to retry later; nothing was created. Run apply "
                      "again later")

    async def _put_back(self, combo: Combination, previous: LockEntry | None) -> None:
        """The provider said nothing was created: put back what the lock held before."""
        if previous is None:
            await self.recorder.drop(combo.fingerprint)
        else:
            await self.recorder.record(previous)

    async def _later(self, address: str, provider: str, exc: RetryLater, attempt: int) -> None:
        delay = backoff_delay(attempt, self.settings.retry_base, retry_after=exc.retry_after)
        if exc.retry_after is not None:
            self.limiters[provider].push_back(delay)
        self.hooks.retrying(address, f"{exc.message} (again in {delay:.1f}s)")
        await self.wakeups.sleep(delay)

    # -- poll --------------------------------------------------------------------------------

    async def _poll(self, combo: Combination, entry: LockEntry, *, fresh: bool = True
                    ) -> TaskState | Finished:
        """Poll until the task is final: its final state, or how the item ended. ``fresh``:
        the task was created by this apply just now (its age is known)."""
        schedule = self.schedules[combo.provider]
        scout = schedule.enlist()
        try:
            return await self._poll_until_final(combo, entry, schedule, scout, fresh)
        finally:
            if scout is not None:
                schedule.dismiss(scout)

    async def _poll_until_final(self, combo: Combination, entry: LockEntry,
                                schedule: PollSchedule, scout: int | None, fresh: bool,
                                ) -> TaskState | Finished:
        assert entry.task_id is not None
        client = self.clients[combo.provider]
        started = self._answered.pop(entry.task_id, None) or time.monotonic()
        since = time.time()
        polls = errors = 0
        running = 0.0   # age at the last poll that saw the task unfinished
        asked = 0.0     # age when the last poll was sent
        unreadable = f"cannot read task {entry.task_id}: {{}}; it stays recorded, run apply " \
                     "again to resume it"
        while True:
            # a wait also ends when the schedule learns the expected time, to wait for that
            learnt = None if schedule.learnt.is_set() else schedule.learnt
            wait = schedule.delay(polls, time.monotonic() - started, scout=scout,
                                  last_look=asked)
            due = time.monotonic() + wait
            news = await self.wakeups.pause(entry.task_id, wait, early=learnt)
            if self.stopping:
                return stopped(f"task {entry.task_id} is recorded as submitted; the next "
                               "apply resumes it at no cost")
            if learnt is not None and learnt.is_set() and not news and time.monotonic() < due:
                continue   # woken to wait for what is now known, not to look
            asked = time.monotonic() - started
            try:
                state = await client.fetch(entry.task_id)
            except RetryLater as exc:
                errors += 1
                if errors > self.settings.request_retries:
                    return failed(unreadable.format(exc.message))
                await self._later(combo.address, combo.provider, exc, errors)
                continue
            except TaskNotFound as exc:
                # a provider may not show a task for a while after creating it: poll on for a
                # grace period after submitted_at (a time, not a count of polls)
                if exc.may_appear and \
                        _age(entry.submitted_at, since) < self.settings.not_found_grace:
                    polls += 1
                    continue
                await self.recorder.record(entry.evolve(state=State.FAILED, error=exc.message))
                return failed(f"{exc.message}; the task is lost (plan will offer a new, paid "
                              "create)")
            except GenerationFailed as exc:
                return TaskState(TaskStatus.FAILED, error_message=exc.message)
            except StopAll as exc:  # the key was revoked (or the money ran out) meanwhile
                self.refused.setdefault(combo.provider, exc.message)
                return failed(unreadable.format(exc.message))
            except ProviderError as exc:
                return failed(unreadable.format(exc.message))
            polls += 1
            self.tally.polls += 1
            looked = time.monotonic() - started
            if state.status == TaskStatus.SUCCEEDED and (fresh or state.took is not None):
                schedule.finished(state.took, running=running, done=looked)
            if state.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
                return state
            running = looked
            age = _age(entry.submitted_at, since)
            if age >= self.settings.task_max_age:   # after a poll: every apply looks once
                return stopped(f"task {entry.task_id} is still generating after {age:.0f}s "
                               f"(SEEDFLOW_TASK_MAX_AGE is {self.settings.task_max_age:g}s); "
                               "it stays recorded as submitted, the next apply resumes it")

    async def _resume(self, combo: Combination, entry: LockEntry) -> Finished | _Collect:
        """A task submitted earlier: poll it; what it made is downloaded next."""
        state = await self._poll(combo, entry, fresh=False)
        if isinstance(state, Finished):
            return state
        if state.status == TaskStatus.SUCCEEDED:
            return _Collect(combo, entry, state.image_urls)
        reason = _failure_text(state)
        await self.recorder.record(entry.evolve(state=State.FAILED, error=reason,
                                                completed_at=now_iso()))
        return failed(f"generation failed: {reason}")

    # -- download ----------------------------------------------------------------------------

    async def _collect(self, combo: Combination, entry: LockEntry,
                       urls: tuple[str, ...]) -> Finished:
        """Download a finished task's images, each recorded as soon as it is in place."""
        if not urls:
            await self.recorder.record(entry.evolve(state=State.FAILED, completed_at=now_iso(),
                                                    error="the provider returned no image"))
            return failed("the task succeeded but returned no image URL")
        have = {image.path: image for image in entry.images}
        images: list[LockedImage] = []
        wanted = list(zip(combo.outputs, urls, strict=False))
        for number, (path, url) in enumerate(wanted, start=1):
            if self.stopping:
                return stopped(f"task {entry.task_id} finished; the next apply downloads its "
                               "images at no cost")
            image = have.get(path)
            if image is None or image.url != url or not self.files.intact(path, image):
                got = await self._fetch(combo, url, path)
                if isinstance(got, Finished):
                    return got
                image = got
            images.append(image)
            last = number == len(wanted)
            entry = entry.evolve(images=tuple(images),
                                 state=State.SUCCEEDED if last else entry.state,
                                 completed_at=now_iso() if last else None)
            failpoints.hit("after-image")
            await self.recorder.record(entry)
            self.files.written(image.path, image.sha256)
            self._keep(combo.address, image)
        note = "" if len(urls) >= len(combo.outputs) else \
            f" (the provider returned {len(urls)} of {len(combo.outputs)} images)"
        return done(", ".join(self.files.shown(i.path) for i in images) + note)

    async def _fetch(self, combo: Combination, url: str, path: str,
                     sha256: str | None = None) -> LockedImage | Finished:
        """Download ``url`` into ``path`` (retrying what may pass later; only the bytes
        ``sha256`` names, when given): the image, or why not (the error's message; errors
        other than a refusal are kept as :class:`_Unfetched`)."""
        address = combo.address
        http = self.downloads(combo.provider) if callable(self.downloads) else self.downloads
        try:
            target = self.files.target(path)
        except (SeedflowError, OSError) as exc:
            return failed(f"cannot write {path}: {_reason(exc)}; the task stays recorded, run "
                          "apply again once it can be written")
        for attempt in range(self.settings.request_retries):
            try:
                got = await download(http, url, target, sha256=sha256,
                                     deadline=self.settings.download_deadline)
            except DownloadRefused as exc:
                return failed(exc.message)
            except DownloadError as exc:
                if not exc.retryable or attempt + 1 == self.settings.request_retries:
                    return _Unfetched(Outcome.FAILED, exc.message, retryable=exc.retryable)
                delay = backoff_delay(attempt, self.settings.retry_base)
                self.hooks.retrying(address, f"{exc.message} (again in {delay:.1f}s)")
                await asyncio.sleep(delay)
                continue
            return LockedImage(path, got.sha256, got.size, url)
        return failed("no download attempt was allowed (request_retries is 0)")

    # -- restore and relink (free) -----------------------------------------------------------

    async def _relocate(self, combo: Combination, entry: LockEntry,
                        moves: tuple[Move, ...]) -> Finished:
        """Put a locked task's images where the spec wants them: copy an intact file (relink),
        else download the recorded URL again (restore). The lock learns the new paths once
        every move succeeded."""
        images = list(entry.images)
        shown: list[str] = []
        for move in moves:
            if move.stored:
                shown.append(f"{self.files.shown(move.target)} (in the store)")
            elif move.source is not None and self.files.intact(move.source, move.image):
                try:
                    await self.files.copy(move.source, move.target)
                except (SeedflowError, OSError) as exc:
                    return failed(f"cannot copy to {move.target}: {_reason(exc)}")
                shown.append(f"{self.files.shown(move.source)} → {self.files.shown(move.target)}")
            else:
                ended = await self._restore(combo, move)
                if ended is not None:
                    return ended
                shown.append(self.files.shown(move.target))
            images[move.index] = LockedImage(move.target, move.image.sha256, move.image.size,
                                             move.image.url)
        await self.recorder.record(entry.evolve(images=tuple(images)))
        for move in moves:
            if not move.stored:
                self.files.written(move.target, move.image.sha256)
                self._keep(combo.address, images[move.index])
        return done(", ".join(shown))

    def _keep(self, address: str, image: LockedImage) -> None:
        if self.keeper is not None:
            self.keeper.keep(address, self.files.root.file(image.path), image.sha256)

    async def _restore(self, combo: Combination, move: Move) -> Finished | None:
        """Bring a locked image back, byte for byte (None), from the store if it holds it,
        else from the provider's result URL; or say why not."""
        if self.keeper is not None:
            try:
                if await self.keeper.restore(move.image.sha256, self.files.target(move.target),
                                             move.image.size):
                    return None
            except (SeedflowError, OSError) as exc:
                return failed(f"restoring {move.target} from the store failed: {_reason(exc)}")
        got = await self._fetch(combo, self.rebase(combo.provider, move.image.url),
                                move.target, move.image.sha256)
        if isinstance(got, _Unfetched) and not got.retryable:
            if self.settings.recreate_expired:
                self.hooks.retrying(combo.address, f"{got.detail}; creating it again "
                                    "(--recreate-expired: a new paid task)")
                return await self._create(combo, None)
            return failed(f"{got.detail}. Providers keep results for about 24 hours; only a "
                          "new paid create can bring this image back: run apply with "
                          "--recreate-expired")
        return got if isinstance(got, Finished) else None   # the bytes the lock records


@dataclass(frozen=True)
class _Collect:
    """A task that finished generating: its images, still to be downloaded (free work)."""

    combo: Combination
    entry: LockEntry
    urls: tuple[str, ...]


@dataclass(frozen=True)
class _Unfetched(Finished):
    """A download that failed for good; ``retryable`` False means it never can succeed (an
    expired URL), which a restore answers differently from a passing fault."""

    retryable: bool = False


@contextmanager
def _prompt_handoffs(seconds: float = HANDOFF) -> Iterator[None]:
    """Let a thread that waits for the GIL have it within ``seconds`` (CPython's switch
    interval, 5 ms by default) while the block runs, then restore the interval.

    The journal's writes run in a worker thread, and every create waits for its intent's fsync;
    when a wave of tasks finishes at once, the event loop's thread is busy with their polls,
    creates and downloads, and would keep the GIL from that thread (and from the download's
    file work) for up to a whole interval after each fsync.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _failure_text(state: TaskState) -> str:
    parts = [p for p in (state.error_code, state.error_message) if p]
    return ": ".join(parts) or "no reason given"


def _age(stamp: str | None, since: float) -> float:
    """Seconds since an ISO time from the lock (``now_iso``: whole seconds, so counted from the
    end of that second), or since ``since`` (a ``time.time()``) when it is missing or
    unreadable."""
    try:
        when = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        when = None
    if when is not None:
        since = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() + 1.0
    return time.time() - since


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SeedflowError):
        return exc.message
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
