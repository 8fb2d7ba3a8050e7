"""Shared helpers for store tests: fast options, S3 test stores, image-like files, and a way
around the store's rules (to damage an object as a broken bucket would hold it).

The S3 servers themselves are in tests/s3server.py; the ``s3_server`` fixture that starts one
per session is in tests/store/conftest.py (copy it, or this module's ``s3_store``, to run CLI
tests against a real S3 server).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import obstore
import pytest
from s3server import MinioServer, S3Server

from seedflow.store import ObjectStore, StoreOptions

T = TypeVar("T")
FAST = StoreOptions(max_retries=1, retry_timeout=5.0, connect_timeout=2.0, concurrency=8)
_names = itertools.count()


def bucket_name() -> str:
    return f"seedflow-test-{os.getpid()}-{next(_names)}"


def s3_store(server: S3Server | MinioServer, monkeypatch: pytest.MonkeyPatch,
             options: StoreOptions = FAST, prefix: str = "images") -> ObjectStore:
    """A fresh bucket on ``server`` and a store in it, reached through AWS_* variables."""
    bucket = bucket_name()
    server.create_bucket(bucket)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return ObjectStore.open(f"s3://{bucket}/{prefix}", options=options)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def image(folder: Path, name: str, size: int = 40_000, seed: int | None = None) -> tuple[Path, str]:
    """A file of ``size`` random (or seeded) bytes; returns its path and sha256."""
    data = os.urandom(size) if seed is None else hashlib.sha256(str(seed).encode()).digest() * (
        size // 32) + b"\0" * (size % 32)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def tamper(store: ObjectStore, sha256: str, data: bytes) -> None:
    """Overwrite an object behind the store's back (as a damaged bucket would hold it)."""
    obstore.put(store._store(), store.key(sha256), data)


def head(store: ObjectStore, sha256: str) -> tuple[object, object, int]:
    meta = obstore.head(store._store(), store.key(sha256))
    return meta["e_tag"], meta["last_modified"], meta["size"]


def leftovers(folder: Path) -> list[str]:
    """Hidden temp files a failed download might have left."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
