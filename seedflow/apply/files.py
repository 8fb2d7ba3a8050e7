"""The output files an apply writes: where (confined by :class:`OutputRoot`), copies made
atomically, and temporary files a killed earlier run left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

from seedflow.atomic import fsync_dir, orphaned, temp_beside
from seedflow.lock.model import LockedImage
from seedflow.outputs import OutputRoot
from seedflow.outputs.statcache import StatCache, stat_key


class OutputFiles:
    def __init__(self, root: OutputRoot, cache: StatCache | None = None) -> None:
        self.root = root
        self.cache = cache
        self._intact = root.cached_check(cache) if cache is not None else root.hash_check()
        self._swept: set[Path] = set()

    def written(self, stored: str, sha256: str) -> None:
        """Remember a file just written with these bytes, so the next plan need not hash it."""
        if self.cache is None:
            return
        with contextlib.suppress(OSError):
            self.cache.remember(stored, stat_key(os.stat(self.root.file(stored))), sha256)

    def intact(self, stored: str, image: LockedImage) -> bool:
        """The file is inside output_dir and holds the recorded bytes."""
        return self._intact(stored, image)

    def shown(self, stored: str) -> str:
        return self.root.shown(stored)

    def target(self, stored: str) -> Path:
        """Where to write ``stored``: folders created, confined to output_dir (OutsideOutputDir
        otherwise), stale temporary files of a killed run swept from its folder."""
        target = self.root.writable(stored)
        self._sweep(target.parent)
        return target

    async def copy(self, source: str, stored: str) -> None:
        """Copy the file at ``source`` to ``stored``, atomically."""
        dest = self.target(stored)
        await asyncio.to_thread(_copy_atomic, self.root.file(source), dest)

    def _sweep(self, folder: Path) -> None:
        """Once per folder: a listing per download would be quadratic in a flat folder."""
        if folder in self._swept:
            return
        self._swept.add(folder)
        with contextlib.suppress(OSError):
            for stale in folder.glob(".*.part"):
                if orphaned(stale):   # not another apply's download in progress (a shard's)
                    stale.unlink(missing_ok=True)


def _copy_atomic(source: Path, dest: Path) -> None:
    fd, tmp = temp_beside(dest)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(dest.parent)
