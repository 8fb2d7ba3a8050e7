"""Batch transfers: many objects to or from a store, a bounded number at a time.

``push`` and ``pull`` report through one small callback interface and never raise for one
object: every failure is collected into the :class:`TransferReport` they return. Every item gets
exactly one :meth:`TransferCallback.finished` (``started`` only when a transfer is attempted),
so a progress display cannot get stuck. When the store fails as a whole (unreachable, bad
credentials, missing bucket), no further transfer starts: the rest finish as ``SKIPPED`` and the
report's ``aborted`` holds that one error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from seedflow.store._backend import redact
from seedflow.store.errors import StoreError, StoreIOError
from seedflow.store.layout import is_sha256
from seedflow.store.objects import ObjectStore, Outcome, bounded


@dataclass(frozen=True)
class Transfer:
    """One object: its digest, the local file (source of a push, destination of a pull) and,
    when known, its size in bytes."""

    sha256: str
    path: Path
    size: int | None = None


@dataclass(frozen=True)
class Result:
    transfer: Transfer
    outcome: Outcome
    error: StoreError | None = None


class TransferCallback(Protocol):
    def started(self, transfer: Transfer) -> None: ...

    def finished(self, result: Result) -> None: ...


class NoProgress:
    def started(self, transfer: Transfer) -> None:
        pass

    def finished(self, result: Result) -> None:
        pass


@dataclass
class TransferReport:
    """What a batch did: counts, every failure with its error, and a store-wide abort."""

    transferred: int = 0
    present: int = 0
    skipped: int = 0
    failures: list[Result] = field(default_factory=list)
    aborted: StoreError | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and self.aborted is None and not self.skipped

    def add(self, result: Result) -> None:
        if result.outcome is Outcome.TRANSFERRED:
            self.transferred += 1
        elif result.outcome is Outcome.PRESENT:
            self.present += 1
        elif result.outcome is Outcome.SKIPPED:
            self.skipped += 1
        else:
            self.failures.append(result)


async def push(store: ObjectStore, items: Iterable[Transfer], *,
               callback: TransferCallback | None = None,
               concurrency: int | None = None) -> TransferReport:
    """Upload every item the store lacks (one upload per distinct sha256)."""
    report = TransferReport()
    hook = callback or NoProgress()
    valid = _valid(store, items, report, hook)
    unique = list({t.sha256: t for t in reversed(valid)}.values())[::-1]
    try:
        present = await store.has_many(t.sha256 for t in unique)
    except StoreError as exc:
        return _abort_all(unique, exc, report, hook)
    missing = []
    for item in unique:
        if item.sha256 in present:
            _finish(Result(item, Outcome.PRESENT), report, hook)
        else:
            missing.append(item)

    def upload(t: Transfer) -> Awaitable[Outcome]:
        return store.put_file(t.path, t.sha256, known_missing=True)

    await _run(store, missing, upload, report, hook, concurrency)
    return report


async def pull(store: ObjectStore, items: Iterable[Transfer], *, overwrite: bool = False,
               callback: TransferCallback | None = None,
               concurrency: int | None = None) -> TransferReport:
    """Download every item whose local file is missing or not intact (sha256-verified)."""
    report = TransferReport()
    hook = callback or NoProgress()

    def download(t: Transfer) -> Awaitable[Outcome]:
        return store.get_file(t.sha256, t.path, size=t.size, overwrite=overwrite)

    await _run(store, _valid(store, items, report, hook), download, report, hook, concurrency)
    return report


def _valid(store: ObjectStore, items: Iterable[Transfer], report: TransferReport,
           hook: TransferCallback) -> list[Transfer]:
    """The items whose digest is a sha256; the others finish as failed right away."""
    valid = []
    for item in items:
        if is_sha256(item.sha256):
            valid.append(item)
        else:
            error = StoreError(store.url, f"{item.path}: {item.sha256[:80]!r} is not a sha256 "
                               "digest; the lock entry is damaged.")
            _finish(Result(item, Outcome.FAILED, error), report, hook)
    return valid


async def _run(store: ObjectStore, items: list[Transfer],
               action: Callable[[Transfer], Awaitable[Outcome]], report: TransferReport,
               hook: TransferCallback, concurrency: int | None) -> None:
    async def one(item: Transfer) -> None:
        if report.aborted is not None:
            _finish(Result(item, Outcome.SKIPPED, report.aborted), report, hook)
            return
        hook.started(item)
        try:
            outcome = await action(item)
        except StoreError as exc:
            if exc.store_wide and report.aborted is None:
                report.aborted = exc
            _finish(Result(item, Outcome.FAILED, exc), report, hook)
        except OSError as exc:
            error = StoreIOError(store.url, f"{item.path}: {redact(str(exc))}")
            _finish(Result(item, Outcome.FAILED, error), report, hook)
        except asyncio.CancelledError:
            _finish(Result(item, Outcome.SKIPPED), report, hook)
            raise
        else:
            _finish(Result(item, outcome), report, hook)

    await bounded(items, one, concurrency or store.options.concurrency)


def _finish(result: Result, report: TransferReport, hook: TransferCallback) -> None:
    report.add(result)
    hook.finished(result)


def _abort_all(items: list[Transfer], error: StoreError, report: TransferReport,
               hook: TransferCallback) -> TransferReport:
    report.aborted = error
    for item in items:
        _finish(Result(item, Outcome.SKIPPED, error), report, hook)
    return report
