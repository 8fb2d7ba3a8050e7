"""The local side of transfers: reading a file that must match its sha256, and writing a
download so that ``dest`` is either absent, untouched, or whole and verified.

Nothing here follows a symlink at the file itself: sources are opened with ``O_NOFOLLOW`` and a
symlink at a destination is refused. (Symlinks in parent folders are the caller's concern:
:class:`seedflow.outputs.OutputRoot` keeps output paths inside ``output_dir``.)
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from seedflow.atomic import fsync_dir, temp_beside
from seedflow.store.errors import (
    ObjectCorrupt,
    ObjectTooLarge,
    StoreIOError,
    UnsafeDestination,
)

CHUNK = 1 << 20


def read_verified(path: Path, sha256: str, max_bytes: int, url: str) -> bytes:
    """The whole content of ``path``, which must be a regular file hashing to ``sha256``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeDestination(url, f"Not uploading {path}: it is a symlink.") from None
        raise StoreIOError(url, f"Cannot read {path}: {exc.strerror}.") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeDestination(url, f"Not uploading {path}: it is not a regular file.")
        if info.st_size > max_bytes:
            raise ObjectTooLarge(url, f"Not uploading {path}: {info.st_size:,} bytes is more "
                                 f"than the store's limit of {max_bytes:,}.")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ObjectTooLarge(url, f"Not uploading {path}: it grew past the store's limit of "
                             f"{max_bytes:,} bytes while being read.")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ObjectCorrupt(url, f"Not uploading {path}: its sha256 is {actual}, not the "
                            f"recorded {sha256} (the file changed after it was recorded).")
    return data


def intact(dest: Path, sha256: str, size: int | None, url: str) -> bool:
    """Whether ``dest`` already holds this content; refuses a symlink or a non-file there."""
    try:
        info = os.lstat(dest)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeDestination(url, f"Not writing {dest}: it is a symlink, and seedflow never "
                                "writes through one. Remove it and try again.")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeDestination(url, f"Not writing {dest}: something other than a file is "
                                "there. Remove it and try again.")
    if size is not None and info.st_size != size:
        return False
    return _sha256_nofollow(dest) == sha256


def _sha256_nofollow(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Download:
    """A temp file beside ``dest`` that becomes ``dest`` only once verified.

    Use as a context manager: leaving it without :meth:`commit` (an error, a cancellation)
    removes the temp file, so nothing is left behind.
    """

    def __init__(self, dest: Path, sha256: str, expected_size: int, max_bytes: int,
                 url: str) -> None:
        self.dest, self.sha256, self.expected_size = dest, sha256, expected_size
        self.max_bytes, self.url = max_bytes, url
        self._digest = hashlib.sha256()
        self._written = 0
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._fd, self._tmp = temp_beside(dest)
        self._done = False

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self._discard()

    def write(self, chunk: bytes | memoryview) -> None:
        self._written += len(chunk)
        if self._written > min(self.expected_size, self.max_bytes):
            raise ObjectCorrupt(self.url, f"Object {self.sha256} sent more bytes than its "
                                f"size of {self.expected_size:,}; nothing was written.")
        self._digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view):]

    def commit(self, overwrite: bool) -> None:
        """Verify size and sha256, then put the file at ``dest`` durably and atomically."""
        if self._written != self.expected_size:
            raise ObjectCorrupt(self.url, f"Object {self.sha256} arrived with {self._written:,} "
                                f"bytes instead of {self.expected_size:,}; nothing was written.")
        actual = self._digest.hexdigest()
        if actual != self.sha256:
            raise ObjectCorrupt(self.url, f"Object {self.sha256} in the store is damaged: its "
                                f"content hashes to {actual}. Nothing was written to "
                                f"{self.dest}; delete the object from the store and push the "
                                "image again from a machine that has it.")
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        if overwrite:
            os.replace(self._tmp, self.dest)  # replaces a symlink itself, never its target
        else:
            self._link_no_clobber()
        self._done = True
        fsync_dir(self.dest.parent)

    def _link_no_clobber(self) -> None:
        try:
            os.link(self._tmp, self.dest)
        except FileExistsError:
            raise UnsafeDestination(self.url, f"Not writing {self.dest}: a file appeared there "
                                    "meanwhile; seedflow does not overwrite it.") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                                 errno.EXDEV):
                raise
            if os.path.lexists(self.dest):  # no hard links here: check, then rename
                raise UnsafeDestination(self.url, f"Not writing {self.dest}: a file appeared "
                                        "there meanwhile; seedflow does not overwrite it.") \
                    from None
            os.replace(self._tmp, self.dest)
            return
        self._tmp.unlink()

    def _discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._tmp.unlink(missing_ok=True)
