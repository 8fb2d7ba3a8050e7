"""Store URLs: parsed and checked once, shown to people without anything secret.

Accepted forms (``prefix`` is optional everywhere)::

    ./images-store  /srv/store  file:///srv/store     a local folder
    s3://BUCKET/PREFIX                                 Amazon S3 or any S3-compatible server
    gs://BUCKET/PREFIX                                 Google Cloud Storage
    az://CONTAINER/PREFIX                              Azure Blob Storage
    memory://NAME                                      in-process, for tests

Credentials never go in the URL (they come from each cloud's environment); a URL that carries
any (``s3://KEY:SECRET@bucket``) is refused without repeating it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from seedflow.store.errors import StoreConfigError

Scheme = Literal["file", "s3", "gs", "az", "memory"]
CLOUD_SCHEMES: tuple[Scheme, ...] = ("s3", "gs", "az")
SUPPORTED = "a folder path, file://PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, " \
            "az://CONTAINER/PREFIX"
MAX_URL = 2048

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = {
    # S3 general-purpose bucket names; GCS names (dots allow up to 222); Azure container names.
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    "gs": re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"),
    "az": re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$"),
    "memory": re.compile(r"^[A-Za-z0-9._-]{0,64}$"),
}
_WHAT = {"s3": "bucket", "gs": "bucket", "az": "container", "memory": "name"}


@dataclass(frozen=True)
class StoreUrl:
    """A validated store location. ``bucket`` is the folder (absolute) for ``file``."""

    scheme: Scheme
    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        if self.scheme == "file":
            return self.bucket
        tail = f"/{self.prefix}" if self.prefix else ""
        return f"{self.scheme}://{self.bucket}{tail}"

    @property
    def folder(self) -> Path:
        """The local folder of a ``file`` store."""
        return Path(self.bucket)


def parse_store_url(text: str, *, base: Path | None = None) -> StoreUrl:
    """Parse ``text`` (relative folder paths are taken from ``base``, default the cwd)."""
    text = text.strip()
    if not text:
        raise StoreConfigError("", f"The store URL is empty: use {SUPPORTED}.")
    if len(text) > MAX_URL or any(ord(c) < 32 or c == "\x7f" for c in text):
        raise StoreConfigError(_shown(text), f"The store URL {_shown(text)!r} is too long or "
                               "contains control characters.")
    match = _URL.match(text)
    if not match:
        return _local(text, base)
    scheme = match.group(1).lower()
    if scheme == "file":
        return _file(text)
    if scheme in _BUCKET:
        return _bucket(text, scheme)
    raise StoreConfigError(_shown(text), f"The store URL {_shown(text)!r} has an unknown scheme "
                           f"{scheme + '://'!r}: use {SUPPORTED}.")


def _local(text: str, base: Path | None) -> StoreUrl:
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # ~user with no such user (or no home folder at all)
        raise StoreConfigError(_shown(text), f"The store URL {_shown(text)!r} starts with a "
                               "home folder that cannot be found: write the folder's full "
                               "path.") from None
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return StoreUrl("file", os.path.abspath(path))


def _file(text: str) -> StoreUrl:
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise StoreConfigError(_shown(text), f"The store URL {_shown(text)!r} is not a local "
                               "file URL: write file:///absolute/path (three slashes).")
    return StoreUrl("file", os.path.abspath(unquote(parts.path) or "/"))


def _bucket(text: str, scheme: str) -> StoreUrl:
    shown = _shown(text)
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise StoreConfigError(shown, f"The store URL {shown!r} contains credentials: remove "
                               "them and set them in the environment instead (see docs/store.md).")
    if parts.query or parts.fragment or ":" in parts.netloc:
        raise StoreConfigError(shown, f"The store URL {shown!r} may not have a port, query or "
                               "fragment: the endpoint comes from the environment "
                               "(AWS_ENDPOINT_URL for S3-compatible servers).")
    bucket = parts.netloc
    if not _BUCKET[scheme].match(bucket):
        raise StoreConfigError(shown, f"The store URL {shown!r} has an invalid "
                               f"{_WHAT[scheme]} name {bucket!r}.")
    return StoreUrl(scheme, bucket, _prefix(parts.path, shown))  # type: ignore[arg-type]


def _prefix(path: str, shown: str) -> str:
    path = path.strip("/")
    if not path:
        return ""
    parts = path.split("/")
    if any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise StoreConfigError(shown, f"The store URL {shown!r} has an invalid prefix "
                               f"{path!r}: no empty, '.' or '..' components.")
    return path


def _shown(text: str) -> str:
    """``text`` with any user:password@ and query string removed, for messages."""
    match = _URL.match(text)
    if not match:
        return text[:200]
    parts = urlsplit(text)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"[:200]
