"""Where paid images live for good: a content-addressed, write-once object store.

A store is a local folder, ``s3://``, ``gs://`` or ``az://`` location (``memory://`` in tests),
reached through obstore with each cloud's standard environment credentials. Objects are keyed
``sha256/ab/cdef…`` and verified on every read. See docs/store.md.

    store = ObjectStore.open("s3://bucket/images")
    await store.check_writable()                # before any paid work: a clear StoreError
    report = await push(store, [Transfer(sha, path)])
    report = await pull(store, [Transfer(sha, path, size)])

Errors are :class:`seedflow.store.errors.StoreError` (a :class:`seedflow.errors.SeedflowError`);
their messages name the store URL and never a credential.
"""

from seedflow.store._backend import StoreOptions
from seedflow.store.errors import (
    ObjectCorrupt,
    ObjectMissing,
    ObjectTooLarge,
    StoreAccessDenied,
    StoreConfigError,
    StoreCredentialsError,
    StoreError,
    StoreIOError,
    StoreMissingBucket,
    StoreUnreachable,
    UnsafeDestination,
)
from seedflow.store.layout import key
from seedflow.store.objects import ObjectStore, Outcome
from seedflow.store.transfer import (
    NoProgress,
    Result,
    Transfer,
    TransferCallback,
    TransferReport,
    pull,
    push,
)
from seedflow.store.url import StoreUrl, parse_store_url

__all__ = [
    "NoProgress",
    "ObjectCorrupt",
    "ObjectMissing",
    "ObjectStore",
    "ObjectTooLarge",
    "Outcome",
    "Result",
    "StoreAccessDenied",
    "StoreConfigError",
    "StoreCredentialsError",
    "StoreError",
    "StoreIOError",
    "StoreMissingBucket",
    "StoreOptions",
    "StoreUnreachable",
    "StoreUrl",
    "Transfer",
    "TransferCallback",
    "TransferReport",
    "UnsafeDestination",
    "key",
    "parse_store_url",
    "pull",
    "push",
]
