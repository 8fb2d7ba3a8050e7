"""Paid images go to the store as soon as they are in place, alongside the rest of the work.

An upload that fails loses nothing: the image is already on disk and in the lock; the failure
is collected and reported at the end (``seedflow push`` uploads it later). Restores ask the
store first: its copy is verified and free, a provider's result URL expires.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from seedflow.store import ObjectMissing, ObjectStore, Outcome, StoreError

UPLOADS_AT_ONCE = 8


class Keeper:
    def __init__(self, store: ObjectStore, *, at_once: int = UPLOADS_AT_ONCE) -> None:
        self.store = store
        self._slots = asyncio.Semaphore(at_once)
        self._uploads: list[asyncio.Task[None]] = []
        self.failed: list[tuple[str, str]] = []   # (address, why)
        self.uploaded = 0

    def keep(self, address: str, file: Path, sha256: str) -> None:
        """Upload ``file`` (whose bytes hash to ``sha256``) in the background."""
        shown = Path(os.path.normpath(file))   # messages name assets/x.png, not pipelines/../
        self._uploads.append(asyncio.create_task(self._upload(address, shown, sha256)))

    async def _upload(self, address: str, file: Path, sha256: str) -> None:
        async with self._slots:
            try:
                outcome = await self.store.put_file(file, sha256)
            except StoreError as exc:
                self.failed.append((address, exc.message))
                return
            except OSError as exc:   # the file went away meanwhile: it stays in the lock
                self.failed.append((address, f"cannot read {file}: {exc.strerror or exc}"))
                return
        if outcome is Outcome.TRANSFERRED:
            self.uploaded += 1

    async def restore(self, sha256: str, dest: Path, size: int) -> bool:
        """Put the store's copy at ``dest``; False when the store does not hold it."""
        try:
            await self.store.get_file(sha256, dest, size=size, overwrite=True)
        except ObjectMissing:
            return False
        return True

    async def finish(self) -> None:
        """Wait for every upload started (their failures are in :attr:`failed`)."""
        await asyncio.gather(*self._uploads)
        self.failed.sort()   # in address order, not in the order uploads happened to end
