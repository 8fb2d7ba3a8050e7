"""The executor: carries out a plan's create, resume, restore and relink actions.

Money safety is the order of durable writes (each ``await recorder.record`` returns after an
fsync):

1. ``uncertain`` (intent) is recorded *before* a create is sent. A crash from here until step 2
   leaves an entry that says "a task may exist": the next apply reports it and pays again only
   with ``--retry-uncertain``.
2. ``submitted`` with the task id is recorded the moment the id is known, before any polling.
   A crash from here on is resumed by polling the same task: never paid twice.
3. Each image is recorded once it is downloaded, hashed and renamed into place; the entry turns
   ``succeeded`` with its last image. A crash mid-download re-downloads (free).

A create the provider answered with "nothing created" (rate limit, 5xx, rejected request) drops
the intent again. ``Ambiguous`` (the create may have been received) keeps it, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from seedflow import failpoints
from seedflow.apply.download import Downloaded, DownloadError, download
from seedflow.apply.pacing import PollSchedule, RateLimiter, backoff_delay
from seedflow.apply.recorder import Recorder
from seedflow.atomic import fsync_dir, temp_beside
from seedflow.lock.model import LockedImage, LockEntry
from seedflow.outputs import hash_check
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, Move, Plan, PlanItem
from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    GenerationFailed,
    ProviderError,
    RequestRejected,
    RetryLater,
    StopAll,
    TaskNotFound,
)

Emit = Callable[[str, str, str], None]  # (event, address, detail)


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
    not_found_polls: int = 3             # a just-created task may not be visible yet


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    uncertain: list[tuple[str, str]] = field(default_factory=list)
    not_started: list[tuple[str, str]] = field(default_factory=list)
    creates: int = 0
    polls: int = 0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.uncertain or self.not_started)


class _Stop(Exception):
    """This combination ends here; its reason has been reported."""


class _Unfetched(Exception):
    """A download failed for good (after retries, or at once if it cannot succeed)."""

    def __init__(self, error: DownloadError) -> None:
        super().__init__(error.message)
        self.error = error


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def matching(plan: Plan, targets: Iterable[str]) -> list[PlanItem]:
    """Every item (work or not) whose address matches one of the ``targets`` globs."""
    patterns = [p.replace("[", "[[]") for p in targets]
    return [i for i in plan.items if any(fnmatch.fnmatchcase(i.address, p) for p in patterns)]


def select(plan: Plan, targets: Iterable[str]) -> list[PlanItem]:
    """The plan's work items, limited to addresses matching any of the ``targets`` globs.

    Only ``*`` and ``?`` are wildcards: addresses are full of brackets (``hero[scene=dusk]``),
    so ``[`` is literal and an address copied from ``plan`` selects exactly itself.
    """
    patterns = [p.replace("[", "[[]") for p in targets]
    work = [i for i in plan.items if i.action not in (Action.UNCHANGED, Action.ORPHAN)]
    if not patterns:
        return work
    return [i for i in work if any(fnmatch.fnmatchcase(i.address, p) for p in patterns)]


class Executor:
    def __init__(self, *, folder: Path, output_dir: Path, recorder: Recorder,
                 clients: Mapping[str, ProviderClient], downloads: httpx.AsyncClient,
                 settings: Settings, emit: Emit,
                 rebase: Callable[[str, str], str] = lambda provider, url: url,
                 callbacks: asyncio.Queue[tuple[str, TaskState]] | None = None) -> None:
        self.folder = folder
        self.output_dir = Path(os.path.realpath(output_dir))
        self.recorder = recorder
        self.clients = clients
        self.downloads = downloads
        self.settings = settings
        self.emit = emit
        self.rebase = rebase
        self.callbacks = callbacks
        self._woken: set[str] = set()
        self._waiting: dict[str, asyncio.Event] = {}
        self.outcome = Outcome()
        self._check = hash_check(folder, output_dir)
        self._swept: set[Path] = set()
        self.stopped: dict[str, str] = {}   # provider → why no new creates start
        self.limiters = {name: RateLimiter(settings.rates.get(name, c.limits.create_rate))
                         for name, c in clients.items()}
        self.schedules = {name: PollSchedule(settings.poll_first or c.limits.first_poll,
                                             settings.poll_max or c.limits.max_poll)
                          for name, c in clients.items()}

    async def run(self, items: list[PlanItem]) -> Outcome:
        queues: dict[str, asyncio.Queue[PlanItem]] = {}
        for item in items:
            provider = item.combination.provider if item.combination else ""
            key = provider if item.action in (Action.CREATE, Action.RESUME) else ""
            queues.setdefault(key, asyncio.Queue()).put_nowait(item)
        workers = [self._worker(queue) for key, queue in queues.items()
                   for _ in range(self._width(key, queue.qsize()))]
        listener = asyncio.create_task(self._listen()) if self.callbacks else None
        try:
            await asyncio.gather(*workers)
        finally:
            if listener:
                listener.cancel()
        return self.outcome

    async def _listen(self) -> None:
        """Provider callbacks wake the task's poll loop early; the poll that follows confirms
        the state, so a callback (signed or not) can never put a result in the lock itself."""
        assert self.callbacks is not None
        while True:
            task_id, _ = await self.callbacks.get()
            self._woken.add(task_id)
            event = self._waiting.get(task_id)
            if event:
                event.set()

    async def _pause(self, task_id: str, seconds: float) -> None:
        """Sleep until the next poll, or until a callback says the task has news."""
        if task_id in self._woken or self.callbacks is None:
            self._woken.discard(task_id)
            if self.callbacks is None:
                await asyncio.sleep(seconds)
            return
        event = self._waiting[task_id] = asyncio.Event()
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiting.pop(task_id, None)
            self._woken.discard(task_id)

    def _width(self, provider: str, size: int) -> int:
        if not provider:
            return min(8, size)
        limit = self.settings.concurrency or self.clients[provider].limits.concurrency
        return max(1, min(limit, size))

    async def _worker(self, queue: asyncio.Queue[PlanItem]) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            with contextlib.suppress(_Stop):
                await self._one(item)

    async def _one(self, item: PlanItem) -> None:
        combo = item.combination
        assert combo is not None
        if item.action == Action.CREATE:
            await self._create(combo, item.entry)
        elif item.action == Action.RESUME:
            assert item.entry is not None
            await self._finish(combo, item.entry)
        elif item.action == Action.RELINK or item.action == Action.RESTORE:
            assert item.entry is not None
            await self._relocate(combo, item.entry, item.moves)

    # -- create ------------------------------------------------------------------------------

    async def _create(self, combo: Combination, previous: LockEntry | None) -> None:
        if previous is not None and previous.state == "uncertain" \
                and not self.settings.retry_uncertain:
            self._uncertain(combo.address, previous.error or "an earlier create may have reached "
                            "the provider; re-run with --retry-uncertain to pay for it again")
            return
        if previous is not None and previous.state == "uncertain":
            self.emit("retry", combo.address, "re-sending a create whose earlier outcome is "
                      "unknown (--retry-uncertain): if the provider got it, this pays twice")
        attempts = previous.attempts + 1 if previous is not None else 1
        for generation in range(self.settings.generation_retries + 1):
            entry = await self._submit(combo, attempts + generation, previous)
            state = await self._poll(combo, entry)
            if state.status == TaskStatus.SUCCEEDED:
                await self._download_all(combo, entry, state.image_urls)
                return
            reason = _failure_text(state)
            previous = entry.evolve(state="failed", error=reason, completed_at=now_iso())
            await self.recorder.record(previous)
            if generation < self.settings.generation_retries:
                self.emit("retry", combo.address, f"generation failed ({reason}); trying again "
                          "(a new paid task)")
                continue
            self._fail(combo.address, f"generation failed: {reason}")

    async def _submit(self, combo: Combination, attempts: int,
                      previous: LockEntry | None) -> LockEntry:
        provider = combo.provider
        client = self.clients[provider]
        intent = LockEntry(
            fingerprint=combo.fingerprint, address=combo.address, asset=combo.asset,
            provider=provider, state="uncertain", request=combo.request, attempts=attempts,
            unsent=combo.unsent, error="seedflow stopped while creating this task; the provider "
            "may have received it")
        for attempt in range(self.settings.request_retries):
            self._check_stopped(combo)
            ticket = await self.limiters[provider].wait()
            self._check_stopped(combo)  # the provider may have refused the key while we waited
            failpoints.hit("before-intent")
            await self.recorder.record(intent)
            failpoints.hit("after-intent")
            try:
                task_id = await self.limiters[provider].send(ticket,
                                                             client.submit(dict(combo.request)))
            except RetryLater as exc:
                await self._undo_intent(combo, previous)
                await self._later(combo.address, provider, exc, attempt)
                continue
            except Ambiguous as exc:
                await self.recorder.record(intent.evolve(error=exc.message))
                self._uncertain(combo.address, exc.message)
                raise _Stop from None
            except StopAll as exc:
                await self._undo_intent(combo, previous)
                self.stopped[provider] = exc.message
                self._not_started(combo.address, exc.message)
                raise _Stop from None
            except (RequestRejected, GenerationFailed, ProviderError) as exc:
                await self._undo_intent(combo, previous)
                self._fail(combo.address, exc.message)
                raise _Stop from None
            except BaseException:
                raise  # cancelled mid-request: the intent stays, as it must
            entry = intent.evolve(state="submitted", task_id=task_id, error=None,
                                  submitted_at=now_iso())
            await self.recorder.record(entry)
            self.outcome.creates += 1
            self.emit("submitted", combo.address, task_id)
            failpoints.hit("after-submitted")
            return entry
        await self._undo_intent(combo, previous)
        self._fail(combo.address, f"{provider} kept asking to retry later; nothing was created. "
                   "Run apply again later")
        raise _Stop

    async def _undo_intent(self, combo: Combination, previous: LockEntry | None) -> None:
        """The provider said nothing was created: put back what the lock held before."""
        if previous is None:
            await self.recorder.drop(combo.fingerprint)
        else:
            await self.recorder.record(previous)

    def _check_stopped(self, combo: Combination) -> None:
        reason = self.stopped.get(combo.provider)
        if reason:
            self._not_started(combo.address, f"not started: {reason}")
            raise _Stop

    async def _later(self, address: str, provider: str, exc: RetryLater, attempt: int) -> None:
        delay = backoff_delay(attempt, self.settings.retry_base, retry_after=exc.retry_after)
        if exc.retry_after is not None:
            self.limiters[provider].push_back(delay)
        self.emit("retry", address, f"{exc.message} (again in {delay:.1f}s)")
        await asyncio.sleep(delay)

    # -- poll --------------------------------------------------------------------------------

    async def _poll(self, combo: Combination, entry: LockEntry) -> TaskState:
        assert entry.task_id is not None
        client = self.clients[combo.provider]
        schedule = self.schedules[combo.provider]
        started = time.monotonic()
        polls = errors = missing = 0
        while True:
            await self._pause(entry.task_id, schedule.delay(polls, time.monotonic() - started))
            try:
                state = await client.fetch(entry.task_id)
            except RetryLater as exc:
                errors += 1
                if errors > self.settings.request_retries:
                    self._fail(combo.address, f"cannot read task {entry.task_id}: {exc.message}; "
                               "it stays recorded, run apply again to resume it")
                    raise _Stop from None
                await self._later(combo.address, combo.provider, exc, errors)
                continue
            except TaskNotFound as exc:
                missing += 1
                if missing < self.settings.not_found_polls:
                    continue
                await self.recorder.record(entry.evolve(state="failed", error=exc.message))
                self._fail(combo.address, f"{exc.message}; the task is lost (plan will offer a "
                           "new, paid create)")
                raise _Stop from None
            except GenerationFailed as exc:
                return TaskState(TaskStatus.FAILED, error_message=exc.message)
            except ProviderError as exc:
                self._fail(combo.address, f"cannot read task {entry.task_id}: {exc.message}; "
                           "it stays recorded, run apply again to resume it")
                raise _Stop from None
            polls += 1
            self.outcome.polls += 1
            if state.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
                if state.status == TaskStatus.SUCCEEDED:
                    schedule.finished(time.monotonic() - started)
                return state

    async def _finish(self, combo: Combination, entry: LockEntry) -> None:
        """Resume a task submitted earlier: poll it, download what it made."""
        self.emit("resume", combo.address, entry.task_id or "")
        state = await self._poll(combo, entry)
        if state.status == TaskStatus.SUCCEEDED:
            await self._download_all(combo, entry, state.image_urls)
            return
        reason = _failure_text(state)
        await self.recorder.record(entry.evolve(state="failed", error=reason,
                                                completed_at=now_iso()))
        self._fail(combo.address, f"generation failed: {reason}")

    # -- download ----------------------------------------------------------------------------

    async def _download_all(self, combo: Combination, entry: LockEntry,
                            urls: tuple[str, ...]) -> None:
        if not urls:
            await self.recorder.record(entry.evolve(state="failed", completed_at=now_iso(),
                                                    error="the provider returned no image"))
            self._fail(combo.address, "the task succeeded but returned no image URL")
            raise _Stop
        done = {image.path: image for image in entry.images}
        images: list[LockedImage] = []
        wanted = list(zip(combo.outputs, urls, strict=False))
        for number, (path, url) in enumerate(wanted, start=1):
            image = done.get(path)
            if image is None or image.url != url or not self._intact(path, image):
                try:
                    got = await self._fetch_file(combo.address, url, path)
                except _Unfetched as exc:
                    self._fail(combo.address, exc.error.message)
                    raise _Stop from None
                image = LockedImage(path, got.sha256, got.size, url)
            images.append(image)
            last = number == len(wanted)
            entry = entry.evolve(images=tuple(images), state="succeeded" if last else entry.state,
                                 completed_at=now_iso() if last else None)
            failpoints.hit("after-image")
            await self.recorder.record(entry)
        note = "" if len(urls) >= len(combo.outputs) else \
            f" (the provider returned {len(urls)} of {len(combo.outputs)} images)"
        self.outcome.done.append(combo.address)
        self.emit("done", combo.address, ", ".join(self._shown(i.path) for i in images) + note)

    def _shown(self, path: str) -> str:
        """A stored path (relative to the pipeline folder) as the user sees it, from cwd."""
        return os.path.relpath(self.folder / path).replace(os.sep, "/")

    def _intact(self, path: str, image: LockedImage) -> bool:
        return self._check(path, image)

    async def _fetch_file(self, address: str, url: str, path: str) -> Downloaded:
        target = self._target(address, path)
        self._sweep(target.parent)
        for attempt in range(self.settings.request_retries):
            try:
                return await download(self.downloads, url, target)
            except DownloadError as exc:
                if not exc.retryable or attempt + 1 == self.settings.request_retries:
                    raise _Unfetched(exc) from None
                delay = backoff_delay(attempt, self.settings.retry_base)
                self.emit("retry", address, f"{exc.message} (again in {delay:.1f}s)")
                await asyncio.sleep(delay)
        raise _Stop  # unreachable: the loop returns or raises

    def _sweep(self, folder: Path) -> None:
        """Remove temp files a killed earlier run left in this folder (once per folder: a
        listing per download would be quadratic in a flat output folder)."""
        if folder in self._swept:
            return
        self._swept.add(folder)
        with contextlib.suppress(OSError):
            for stale in folder.glob(".*.part"):
                stale.unlink(missing_ok=True)

    def _target(self, address: str, path: str) -> Path:
        """The absolute output path, refusing anything that resolves outside output_dir
        (a symlink planted inside it, for instance)."""
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        real = Path(os.path.realpath(target.parent)) / target.name
        if not real.is_relative_to(self.output_dir):
            self._fail(address, f"{path} resolves outside output_dir ({real}); refusing to write")
            raise _Stop
        return target

    # -- restore and relink (free) -----------------------------------------------------------

    async def _relocate(self, combo: Combination, entry: LockEntry,
                        moves: tuple[Move, ...]) -> None:
        images = list(entry.images)
        for move in moves:
            if move.source is not None and self._intact(move.source, move.image):
                dest = self._target(combo.address, move.target)
                self._sweep(dest.parent)
                await asyncio.to_thread(self._copy, move.source, dest)
                self.emit("relinked", combo.address,
                          f"{self._shown(move.source)} → {self._shown(move.target)}")
            else:
                await self._restore(combo, entry, move)
            images[move.index] = LockedImage(move.target, move.image.sha256, move.image.size,
                                             move.image.url)
        await self.recorder.record(entry.evolve(images=tuple(images)))
        self.outcome.done.append(combo.address)

    async def _restore(self, combo: Combination, entry: LockEntry, move: Move) -> None:
        try:
            url = self.rebase(combo.provider, move.image.url)
            got = await self._fetch_file(combo.address, url, move.target)
        except _Unfetched as exc:
            if exc.error.retryable:
                self._fail(combo.address, exc.error.message)
            elif self.settings.recreate_expired:
                self.emit("retry", combo.address, f"{exc.error.message}; creating it again "
                          "(--recreate-expired: a new paid task)")
                await self._create(combo, None)
            else:
                self._fail(combo.address, f"{exc.error.message}. Providers keep results for "
                           "about 24 hours; only a new paid create can bring this image back: "
                           "run apply with --recreate-expired")
            raise _Stop from None
        if got.sha256 != move.image.sha256:
            self._fail(combo.address, f"the image re-downloaded for {move.target} differs from "
                       "the recorded one (sha256); left it in place, lock unchanged")
            raise _Stop
        self.emit("restored", combo.address, self._shown(move.target))

    def _copy(self, source: str, dest: Path) -> None:
        """Copy atomically (runs in a worker thread: no reporting from here)."""
        fd, tmp = temp_beside(dest)
        os.close(fd)
        try:
            shutil.copyfile(self.folder / source, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(dest.parent)

    # -- reporting ---------------------------------------------------------------------------

    def _fail(self, address: str, reason: str) -> None:
        self.outcome.failed.append((address, reason))
        self.emit("failed", address, reason)

    def _uncertain(self, address: str, reason: str) -> None:
        self.outcome.uncertain.append((address, reason))
        self.emit("uncertain", address, reason)

    def _not_started(self, address: str, reason: str) -> None:
        self.outcome.not_started.append((address, reason))
        self.emit("not-started", address, reason)


def _failure_text(state: TaskState) -> str:
    parts = [p for p in (state.error_code, state.error_message) if p]
    return ": ".join(parts) or "no reason given"

