"""Opening what every command starts from: pipeline → combinations → lock (→ plan).

:func:`open_spec` is the one recipe: it loads and expands the pipeline and applies the
lock-path rules; :func:`load_project` also reads the lock (read-only commands). Commands that
write the lock (apply, prune) open a :class:`~seedflow.lock` writer on ``spec.lock_path``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from seedflow.errors import LockError, SeedflowError, SpecError, SpecErrors
from seedflow.lock.format import split_lines
from seedflow.lock.journal import journal_path
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.lock.read import Lock, read_lock
from seedflow.outputs import OutputCheck, OutputRoot, file_sha256
from seedflow.outputs.statcache import StatCache, cache_path
from seedflow.pipeline.load import PipelineErrors, load_pipeline
from seedflow.pipeline.model import Pipeline
from seedflow.plan.combos import Combination, resolve
from seedflow.plan.diff import Checks, Plan, make_plan
from seedflow.plan.shard import fragment_pattern, fragment_share

if TYPE_CHECKING:   # the store (asyncio, obstore) is imported only where a plan has one
    from seedflow.store import ObjectStore

STORE_ENV = "SEEDFLOW_STORE"


@dataclass(frozen=True)
class Spec:
    """A pipeline, its combinations, and the lockfile that goes with it."""

    pipeline: Pipeline
    combinations: list[Combination]
    lock_path: Path

    @property
    def root(self) -> OutputRoot:
        return OutputRoot(self.pipeline.folder, self.pipeline.output_dir)


@dataclass(frozen=True)
class Project:
    pipeline: Pipeline
    combinations: list[Combination]
    lock: Lock

    def plan(self, *, check_hashes: bool = False, store: ObjectStore | None = None) -> Plan:
        """The plan; files are checked by sha256 through the stat cache that apply keeps
        (``check_hashes``: every file hashed again). Read-only: the cache is not written."""
        cache = StatCache(cache_path(self.lock.path))
        check = self.root.hash_check() if check_hashes else self.root.cached_check(cache)
        with gc_paused():
            return make_plan(self.combinations, self.lock.entries,
                             plan_checks(self.root, check, self.lock.entries, store),
                             unread=self.lock.unread)

    @cached_property
    def root(self) -> OutputRoot:
        return OutputRoot(self.pipeline.folder, self.pipeline.output_dir)


def plan_checks(root: OutputRoot, intact: OutputCheck, entries: Mapping[str, LockEntry],
                store: ObjectStore | None) -> Checks:
    """The plan's questions about the world, answered: files on disk, and (with a store) which
    of the locked images missing here the store holds, asked in one batch."""
    held: set[str] = set()
    if store is not None:
        intact = _remembered(intact)
        missing = {image.sha256 for entry in entries.values() if entry.state is State.SUCCEEDED
                   for image in entry.images if not intact(image.path, image)}
        if missing:
            import asyncio

            held = asyncio.run(_held(store, missing))
    return Checks(intact, held=lambda image: image.sha256 in held, now=datetime.now(UTC),
                  exists=root.exists)


def _remembered(intact: OutputCheck) -> OutputCheck:
    """``intact``, each answer kept: with a store the plan asks twice about each image, and a
    thorough check hashes the file."""
    answers: dict[tuple[str, str], bool] = {}

    def check(path: str, image: LockedImage) -> bool:
        key = (path, image.sha256)
        if key not in answers:
            answers[key] = intact(path, image)
        return answers[key]

    return check


async def _held(store: ObjectStore, digests: set[str]) -> set[str]:
    await store.check_readable()
    return await store.has_many(digests)


def open_store(pipeline: Pipeline, flag: str | None = None,
               env: Mapping[str, str] = os.environ) -> ObjectStore | None:
    """Where images live for good: ``--store``, else ``SEEDFLOW_STORE`` (both relative to the
    current directory when they are folders), else the pipeline's ``store:`` (relative to its
    folder); None when none is set."""
    url = flag or env.get(STORE_ENV)
    if url:
        from seedflow.store import ObjectStore

        return ObjectStore.open(url, base=Path.cwd())
    return pipeline_store(pipeline)


def pipeline_store(pipeline: Pipeline) -> ObjectStore | None:
    """The pipeline's own ``store:``, its URL checked (an error points at the key)."""
    if not pipeline.store:
        return None
    from seedflow.store import ObjectStore, StoreError

    try:
        return ObjectStore.open(pipeline.store, base=pipeline.folder)
    except StoreError as exc:
        raise SpecError(pipeline.positions.at(("store",)), exc.message) from None


def open_spec(path: Path, *, lock_path: Path | None = None,
              max_combinations: int | None = None, new_lock: bool = False,
              shard: tuple[int, int] | None = None) -> Spec:
    """Load and expand the pipeline; the lock is ``lock_path`` or the pipeline's default.

    An explicit ``--lock`` that does not exist is a typo until proven otherwise: a plan against
    it would show everything as new, an apply would pay for everything again. Only a command
    that writes (``new_lock``) may start a new lockfile there, and only when the default lock
    does not exist either.
    """
    pipeline, combinations = expand(path, max_combinations=max_combinations)
    if lock_path is not None and not lock_path.exists():
        _refuse_missing_lock(lock_path, pipeline.default_lock, new_lock=new_lock)
    lock = lock_path or pipeline.default_lock
    _refuse_unmerged(lock, shard)
    return Spec(pipeline, combinations, lock)


def expand(path: Path, *, max_combinations: int | None = None
           ) -> tuple[Pipeline, list[Combination]]:
    """Load and expand a pipeline. When some of its templates do not compile, the assets that
    did build are still expanded, so every template error of the file is reported at once."""
    try:
        pipeline = load_pipeline(path)
    except PipelineErrors as exc:
        try:
            resolve(exc.rest, max_combinations=max_combinations)
        except SpecErrors as more:
            raise SpecErrors(exc.errors + more.errors) from None
        raise
    return pipeline, resolve(pipeline, max_combinations=max_combinations)


def unmerged_fragments(lock_path: Path) -> list[Path]:
    """Shard fragments beside the lock (``apply --shard`` writes them): records of paid
    tasks that the lock itself does not have yet."""
    return sorted(p for p in lock_path.parent.glob(fragment_pattern(lock_path))
                  if fragment_share(lock_path, p) is not None)


def _refuse_unmerged(lock_path: Path, shard: tuple[int, int] | None) -> None:
    """Planning without a fragment would offer to pay again for what it records. A shard run
    may go on beside fragments of the same split (their combinations are not its own)."""
    found = [p for p in unmerged_fragments(lock_path)
             if shard is None or (fragment_share(lock_path, p) or (0, 0))[1] != shard[1]]
    if found:
        names = ", ".join(str(p) for p in found[:3]) + (
            f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise SeedflowError(
            f"{names} record{'s' if len(found) == 1 else ''} paid tasks that {lock_path} does "
            "not have yet; without them seedflow would offer to pay for those again. Merge "
            f"first: `seedflow lock merge {lock_path} "
            f"{lock_path.parent / fragment_pattern(lock_path)} --remove-fragments`")


def _refuse_missing_lock(lock_path: Path, default: Path, *, new_lock: bool) -> None:
    if default.exists():
        raise SeedflowError(f"--lock {lock_path} does not exist, but {default} does. If you "
                            "really mean to start a new lockfile there, create it by copying "
                            "or merging (`seedflow lock merge NEW OLD`); nothing was done")
    if not new_lock:
        raise SeedflowError(f"--lock {lock_path} does not exist. Check the path (without "
                            f"--lock, seedflow uses {default})")


def load_project(path: Path, *, lock_path: Path | None = None,
                 max_combinations: int | None = None, spec_only: bool = False) -> Project:
    """The spec and its lock, read (for the read-only commands). ``spec_only`` (plan): only
    the entries of the spec's combinations are kept; the others, checked as ever, stay in the
    lockfile (``lock.unread``) until the plan lists them as orphans."""
    with gc_paused():
        spec = open_spec(path, lock_path=lock_path, max_combinations=max_combinations)
        # by fingerprint: an entry shares its combination's fingerprint and address strings
        wanted = {combo.fingerprint: combo for combo in spec.combinations} if spec_only else None
        lock = read_lock(spec.lock_path, only=wanted, keep_unread=not spec_only)
    check_lock_paths(spec.root, lock.entries, lock.path, spec.combinations)
    return Project(spec.pipeline, spec.combinations, lock)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a plan's objects are built: almost all of them are
    kept, so each collection would only walk them again (about 15% of a 100,000-combination
    plan). Collection resumes afterwards; nothing is frozen."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def check_lock_paths(root: OutputRoot, entries: Mapping[str, LockEntry], lock_path: Path,
                     combinations: list[Combination]) -> None:
    """Refuse a lock that records an image where seedflow never writes one: inside output_dir,
    a path the output rule (seedflow.outputs.path_problem) refuses. Such a line was edited by
    hand, and a restore, relink, pull or prune would otherwise act on it. A path that is one of
    the spec's outputs passed the rule already; a path outside output_dir is never used."""
    outputs = {out for combo in combinations for out in combo.outputs}
    for entry in entries.values():
        for image in entry.images:
            problem = None if image.path in outputs else root.stored_problem(image.path)
            if problem:
                where = _line_of(lock_path, entry.fingerprint)
                raise LockError(
                    f"{where}: entry {entry.address} records the image path {image.path!r}: "
                    f"{problem}. seedflow never writes there, so the line was edited by hand; "
                    f"restore the lockfile from git (`git checkout -- {lock_path}`). Nothing "
                    "was done")


def _line_of(lock_path: Path, fingerprint: str) -> str:
    """``FILE:LINE`` of the entry with this fingerprint (``FILE`` when only its journal has it)."""
    try:
        lines = split_lines(lock_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        lines = []
    needle = f'"fingerprint":"{fingerprint}"'
    found = next((n for n, line in enumerate(lines, start=1) if needle in line), None)
    return f"{lock_path}:{found}" if found else str(lock_path)


def input_digests(pipeline: Path, lock: Path) -> dict[str, str | None]:
    """The sha256 of what a plan is made from (None for a file that does not exist)."""
    return {"pipeline": _digest(pipeline), "lock": _digest(lock),
            "journal": _digest(journal_path(lock))}


def _digest(path: Path) -> str | None:
    """None for a file that is absent or empty (apply opens an empty journal as it starts)."""
    try:
        return file_sha256(path) if path.stat().st_size else None
    except FileNotFoundError:
        return None
