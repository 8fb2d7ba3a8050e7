"""The content-addressed store: one class over every backend obstore speaks.

An object's key is ``sha256/ab/cdef…`` (see :mod:`seedflow.store.layout`) under the store URL's
prefix. Objects are written once and never rewritten: an upload first asks whether the object is
there (no transfer if so), then writes it with a create-only precondition (``If-None-Match: *``
on S3 and Azure, generation 0 on GCS, a no-clobber link on a folder), so two uploaders racing
cannot replace each other's object, and a write cut short by ``kill -9`` leaves no object under
the key (a single PUT is committed whole or not at all). Downloads are verified (size and
sha256) before they take the destination's name.

All I/O methods are coroutines (apply runs on asyncio); :mod:`seedflow.store.transfer` runs
many of them under one bound.
"""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import obstore
import obstore.exceptions as obx

from seedflow.store import layout
from seedflow.store._backend import StoreOptions, build, endpoint_of, translate
from seedflow.store._files import Download, intact, read_verified
from seedflow.store.errors import (
    ObjectCorrupt,
    ObjectTooLarge,
    StoreAccessDenied,
    StoreError,
    StoreIOError,
    StoreMissingBucket,
    UnsafeDestination,
)
from seedflow.store.url import StoreUrl, parse_store_url

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ObjectStore as Backend

T = TypeVar("T")
R = TypeVar("R")

LIST_PAGE = 1000          # keys per LIST request (the S3 maximum)
LIST_MIN = 256            # below this many digests, has_many always asks object by object
FANOUT_WAYS = 16 ** layout.FANOUT
STREAM_CHUNK = 1 << 20    # bytes handed from obstore to the file per step
OFFLOAD = 256 << 10       # chunks larger than this are hashed and written off the event loop


class Outcome(Enum):
    """What one transfer did."""

    TRANSFERRED = "transferred"   # bytes moved (uploaded or downloaded)
    PRESENT = "present"           # nothing to move: the destination already had it
    FAILED = "failed"
    SKIPPED = "skipped"           # not tried: the store failed as a whole first


class ObjectStore:
    """A content-addressed store at ``url`` (build it with :meth:`open`)."""

    def __init__(self, location: StoreUrl, options: StoreOptions | None = None) -> None:
        self.location = location
        self.options = options or StoreOptions()
        self._backend: Backend | None = None

    @classmethod
    def open(cls, text: str, *, base: Path | None = None,
             options: StoreOptions | None = None) -> ObjectStore:
        """Parse and check a store URL; relative folder paths are taken from ``base``."""
        return cls(parse_store_url(text, base=base), options)

    @property
    def url(self) -> str:
        """The store as shown to people: no credentials, ever."""
        return str(self.location)

    @property
    def endpoint(self) -> str | None:
        """The custom endpoint in use (``AWS_ENDPOINT_URL`` …), if any."""
        return endpoint_of(self.location)

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    @staticmethod
    def key(sha256: str) -> str:
        """The object key for this digest, relative to the store's prefix."""
        return layout.key(sha256)

    # --- questions -----------------------------------------------------------------------------

    async def has(self, sha256: str) -> bool:
        """Whether the store holds the object (one HEAD request)."""
        return await self._head(self.key(sha256), f"Checking {sha256}") is not None

    async def has_many(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` the store holds, in as few requests as it can tell.

        Few digests: one HEAD each, ``concurrency`` at a time. Many: the fan-out prefix holding
        most of them is listed first, which estimates the store's size (a listing costs one
        request per 1,000 keys); the rest is then asked the cheapest way of three - a HEAD per
        digest, a listing of each needed prefix (concurrently), or one listing of the whole
        store.
        """
        wanted = {_checked(d) for d in digests}
        if len(wanted) < LIST_MIN or not self._exists_root():
            return await self._head_many(wanted)
        groups: dict[str, set[str]] = defaultdict(set)
        for digest in wanted:
            groups[layout.fanout_prefix(digest)].add(digest)
        first = max(groups, key=lambda p: len(groups[p]))
        found, listed = await self._list_matching(first, groups.pop(first))
        way = cheapest(sum(len(group) for group in groups.values()), len(groups), listed)
        if way == "head":
            return found | await self._head_many(set().union(*groups.values()))
        if way == "list-all":
            everything, _ = await self._list_matching(layout.ALGORITHM + "/", wanted)
            return everything
        results = await bounded(list(groups.items()),
                                lambda item: self._list_matching(*item),
                                self.options.concurrency)
        return found.union(*(matched for matched, _ in results))

    async def check_readable(self) -> None:
        """Raise a clear :class:`StoreError` unless the store can be listed and read."""
        if self.location.scheme == "file" and not self.location.folder.is_dir():
            raise StoreMissingBucket(self.url, f"The store folder {self.url} does not exist: "
                                     "create it, or push to it first.")
        stream = obstore.list(self._store(), prefix=layout.ALGORITHM + "/", chunk_size=1)
        try:
            await anext(aiter(stream), None)
        except Exception as exc:
            raise translate(exc, self.location, f"Listing the store {self.url}") from None

    async def check_writable(self) -> None:
        """Raise a clear :class:`StoreError` unless the store is reachable, the credentials
        valid, the bucket there and writable: writes and deletes a small probe object.

        A store that lets objects be written but not deleted passes (seedflow never deletes);
        its probe stays under ``.seedflow-probe/`` (a lifecycle rule can expire it).
        """
        if self.location.scheme == "file":
            self._make_folder()
        probe = f"{layout.PROBE_PREFIX}/{uuid.uuid4().hex}"
        body = b"seedflow store probe: safe to delete\n"
        what = f"Writing a probe object to {self.url}"
        try:
            await obstore.put_async(self._store(), probe, body, mode="create")
            meta = await obstore.head_async(self._store(), probe)
        except Exception as exc:
            raise translate(exc, self.location, what) from None
        if meta["size"] != len(body):
            raise StoreIOError(self.url, f"{what}: it came back with {meta['size']} bytes "
                               f"instead of {len(body)}; the store does not keep what it is "
                               "given.")
        try:
            await obstore.delete_async(self._store(), probe)
        except Exception as exc:
            error = translate(exc, self.location, "Deleting the probe object")
            if not isinstance(error, StoreAccessDenied):
                raise error from None

    # --- transfers -----------------------------------------------------------------------------

    async def put_file(self, path: Path, sha256: str, *, known_missing: bool = False) -> Outcome:
        """Upload ``path`` as the object ``sha256`` unless the store has it.

        The file is read once (bounded by ``max_object_bytes``) and must hash to ``sha256``;
        the upload is create-only and its size is checked afterwards. ``known_missing`` skips
        the first existence check (a batch that already asked); a racing upload is still
        detected by the precondition and counts as present.
        """
        key = self.key(sha256)
        what = f"Uploading {path}"
        if not known_missing:
            meta = await self._head(key, what)
            if meta is not None:
                await asyncio.to_thread(self._same_size, path, sha256, meta["size"])
                return Outcome.PRESENT
        data = await asyncio.to_thread(read_verified, path, sha256,
                                       self.options.max_object_bytes, self.url)
        if self.location.scheme == "file":
            self._make_folder()
        outcome = Outcome.TRANSFERRED
        try:
            await obstore.put_async(self._store(), key, data, mode="create")
        except obx.AlreadyExistsError:
            outcome = Outcome.PRESENT
        except Exception as exc:
            raise translate(exc, self.location, what) from None
        meta = await self._head(key, what)
        if meta is None or meta["size"] != len(data):
            got = "no object" if meta is None else f"{meta['size']:,} bytes"
            raise ObjectCorrupt(self.url, f"{what}: the store holds {got} under {key} "
                                f"instead of {len(data):,} bytes. Delete that object from the "
                                "store and push again.")
        return outcome

    async def get_file(self, sha256: str, dest: Path, *, size: int | None = None,
                       overwrite: bool = False) -> Outcome:
        """Download the object ``sha256`` to ``dest``, verified, atomically.

        An intact ``dest`` costs no transfer. A symlink (or folder) at ``dest`` is refused; a
        different file there is refused unless ``overwrite``. The bytes go to a temp file
        beside ``dest`` and are checked (size, sha256, the ``max_object_bytes`` cap) before an
        fsync and a rename; on any failure ``dest`` is untouched and the temp file removed.
        """
        key = self.key(sha256)
        if await asyncio.to_thread(intact, dest, sha256, size, self.url):
            return Outcome.PRESENT
        if not overwrite and os.path.lexists(dest):
            raise _exists(self.url, dest)
        what = f"Downloading {sha256} to {dest}"
        try:
            result = await obstore.get_async(self._store(), key)
        except Exception as exc:
            raise translate(exc, self.location, what) from None
        expected = result.meta["size"]
        self._check_size(sha256, expected, size)
        with Download(dest, sha256, expected, self.options.max_object_bytes, self.url) as out:
            try:
                async for chunk in result.stream(min_chunk_size=STREAM_CHUNK):
                    if len(chunk) > OFFLOAD:
                        await asyncio.to_thread(out.write, chunk)
                    else:
                        out.write(chunk)
            except StoreError:
                raise
            except Exception as exc:
                raise translate(exc, self.location, what) from None
            await asyncio.to_thread(out.commit, overwrite)
        return Outcome.TRANSFERRED

    # --- internals -----------------------------------------------------------------------------

    def _store(self) -> Backend:
        if self._backend is None:
            if self.location.scheme == "file" and not self.location.folder.is_dir():
                raise StoreMissingBucket(self.url, f"The store folder {self.url} does not "
                                         "exist: create it, or push to it first.")
            self._backend = build(self.location, self.options)
        return self._backend

    def _make_folder(self) -> None:
        try:
            self.location.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate(exc, self.location, f"Creating the store folder {self.url}") \
                from None

    def _exists_root(self) -> bool:
        return self.location.scheme != "file" or self.location.folder.is_dir()

    async def _head(self, key: str, what: str) -> ObjectMeta | None:
        if not self._exists_root():
            return None
        try:
            return await obstore.head_async(self._store(), key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise translate(exc, self.location, what) from None

    async def _head_many(self, digests: set[str]) -> set[str]:
        async def one(digest: str) -> str | None:
            return digest if await self.has(digest) else None

        found = await bounded(sorted(digests), one, self.options.concurrency)
        return {d for d in found if d is not None}

    async def _list_matching(self, prefix: str, wanted: set[str]) -> tuple[set[str], int]:
        """The digests of ``wanted`` found under ``prefix``, and how many keys were listed."""
        found: set[str] = set()
        listed = 0
        try:
            async for page in obstore.list(self._store(), prefix=prefix, chunk_size=LIST_PAGE):
                for meta in page:
                    listed += 1
                    digest = layout.sha_of_key(meta["path"])
                    if digest in wanted:
                        found.add(digest)
        except Exception as exc:
            raise translate(exc, self.location, f"Listing {prefix} in {self.url}") from None
        return found, listed

    def _check_size(self, sha256: str, actual: int, expected: int | None) -> None:
        cap = self.options.max_object_bytes
        if actual > cap:
            raise ObjectTooLarge(self.url, f"Object {sha256} is {actual:,} bytes, more than "
                                 f"the limit of {cap:,}; not downloaded.")
        if expected is not None and actual != expected:
            raise ObjectCorrupt(self.url, f"Object {sha256} in the store has {actual:,} bytes "
                                f"but the lock records {expected:,}; not downloaded.")

    def _same_size(self, path: Path, sha256: str, stored: int) -> None:
        try:
            local = os.lstat(path).st_size
        except FileNotFoundError:
            return
        if local != stored:
            raise ObjectCorrupt(self.url, f"The store's object {sha256} has {stored:,} bytes "
                                f"but {path} has {local:,}: one of them is damaged. Check the "
                                "file's sha256; if it matches, delete the store's object and "
                                "push again.")


def cheapest(heads: int, prefixes: int, listed: int) -> Literal["head", "list-prefixes",
                                                                 "list-all"]:
    """How to ask about ``heads`` digests spread over ``prefixes`` fan-out prefixes, when one
    prefix listed held ``listed`` keys: the way with the fewest requests (HEADs on a tie)."""
    per_prefix = prefixes * max(1, math.ceil(listed / LIST_PAGE))
    whole = max(1, math.ceil(listed * FANOUT_WAYS / LIST_PAGE))
    if heads <= min(per_prefix, whole):
        return "head"
    return "list-all" if whole < per_prefix else "list-prefixes"


def _checked(digest: str) -> str:
    layout.key(digest)
    return digest


def _exists(url: str, dest: Path) -> StoreError:
    return UnsafeDestination(url, f"Not writing {dest}: a different file is there, and it is "
                             "not overwritten unless asked (--force).")


async def bounded(items: Iterable[T], fn: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """``fn`` over ``items``, at most ``limit`` at a time, results in order (fails fast)."""
    queue = list(enumerate(items))
    results: dict[int, R] = {}
    source = iter(queue)

    async def worker() -> None:
        for index, item in source:
            results[index] = await fn(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(limit, len(queue)))):
                group.create_task(worker())
    except ExceptionGroup as group_error:  # the others were cancelled: report the first
        raise group_error.exceptions[0] from None
    return [results[i] for i in range(len(queue))]
