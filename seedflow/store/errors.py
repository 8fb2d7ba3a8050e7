"""What can go wrong with a store, as :class:`~seedflow.errors.SeedflowError` subclasses.

Every failure from the object-storage library is translated at the boundary
(:mod:`seedflow.store._backend`) into one of these, with a message that names the store URL
(never a credential) and says what to do:

- :class:`StoreConfigError` - the store URL or its environment is wrong (unknown scheme, bad
  bucket name, credentials inside the URL, an ``http://`` endpoint that cannot be used).
- :class:`StoreUnreachable` - the endpoint does not answer (DNS, refused connection, timeout).
- :class:`StoreCredentialsError` - no usable credentials, or the service refused them.
- :class:`StoreAccessDenied` - the credentials are valid but lack a permission.
- :class:`StoreMissingBucket` - the bucket, container or folder does not exist.
- :class:`ObjectMissing` - one object is not in the store.
- :class:`ObjectCorrupt` - bytes do not match their sha256 or size (in the store or locally).
- :class:`ObjectTooLarge` - an object is larger than the configured cap.
- :class:`UnsafeDestination` - a download target is a symlink, a folder, or a different file.
- :class:`StoreIOError` - anything else the store or the local disk reported.

The first five are *store-wide* (``store_wide`` is true): every other transfer would fail the
same way, so batch transfers stop starting new ones when they see one.
"""

from __future__ import annotations

from seedflow.errors import SeedflowError


class StoreError(SeedflowError):
    """A store operation failed; ``url`` is the store as shown to users (no credentials)."""

    store_wide = False

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(message)


class StoreConfigError(StoreError):
    store_wide = True


class StoreUnreachable(StoreError):
    store_wide = True


class StoreCredentialsError(StoreError):
    store_wide = True


class StoreAccessDenied(StoreError):
    store_wide = True


class StoreMissingBucket(StoreError):
    store_wide = True


class ObjectMissing(StoreError):
    pass


class ObjectCorrupt(StoreError):
    pass


class ObjectTooLarge(StoreError):
    pass


class UnsafeDestination(StoreError):
    pass


class StoreIOError(StoreError):
    pass
