"""Downloading a generated image into place: streamed, hashed, size-capped, checked, atomic.

The bytes go to a hidden temporary file beside the destination (``.NAME.XXXX.part``) while their
SHA-256 is computed; only a complete PNG, JPEG or WebP within the size cap is fsynced and moved
into place with ``os.replace`` (then the folder is fsynced), so the destination path holds
either its old content or the whole new image, even across a crash. Every failure removes the
temporary file and raises :class:`DownloadError`, whose ``retryable`` says whether trying again
can help: an expired result URL (404/410/403) cannot, a truncated body, a 5xx or a network error
can.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx

from seedflow import failpoints
from seedflow.atomic import fsync_dir, temp_beside
from seedflow.errors import SeedflowError

MAX_BYTES = 50 * 2**20
_EXPIRED = (403, 404, 410)
_RETRYABLE = (408, 425, 429)
_HEAD = 12


class DownloadError(SeedflowError):
    """An image could not be downloaded; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Downloaded:
    """A file now in place: its SHA-256 (hex), size in bytes and image media type."""

    sha256: str
    size: int
    media_type: str


@dataclass(frozen=True)
class _Body:
    """What streaming saw: the digest and size of every byte, and the first few bytes."""

    sha256: str
    size: int
    head: bytes


async def download(http: httpx.AsyncClient, url: str, dest: Path, *,
                   max_bytes: int = MAX_BYTES) -> Downloaded:
    """Download the image at ``url`` to ``dest`` atomically (see the module docstring)."""
    shown = _shown(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download {shown}: only http and https URLs are "
                            "accepted", retryable=False)
    try:
        return await _download_to(http, url, shown, dest, max_bytes)
    except OSError as exc:
        raise DownloadError(f"cannot write {dest}: {exc.strerror or exc}", retryable=False) from exc


async def _download_to(http: httpx.AsyncClient, url: str, shown: str, dest: Path,
                       max_bytes: int) -> Downloaded:
    """Stream into a ``.part`` file beside ``dest``, check it, then move it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, part = temp_beside(dest)
    try:
        with os.fdopen(fd, "wb") as out:
            body = await _stream(http, url, shown, out, max_bytes)
            media_type = _media_type(body.head)
            if media_type is None:
                raise DownloadError(f"{shown} is not a PNG, JPEG or WebP image; nothing was "
                                    "saved", retryable=False)
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())
        await asyncio.to_thread(_move_into_place, part, dest)
    finally:
        part.unlink(missing_ok=True)
    return Downloaded(body.sha256, body.size, media_type)


async def _stream(http: httpx.AsyncClient, url: str, shown: str, out: BinaryIO,
                  max_bytes: int) -> _Body:
    """Stream the body into ``out``; translate every way it can go wrong into DownloadError."""
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        async with http.stream("GET", url, follow_redirects=True) as response:
            _check_status(response, shown)
            _check_size(_content_length(response) or 0, shown, max_bytes)
            async for chunk in response.aiter_bytes():
                first = size == 0
                size += len(chunk)
                _check_size(size, shown, max_bytes)
                head = head if len(head) >= _HEAD else (head + chunk)[:_HEAD]
                digest.update(chunk)
                out.write(chunk)
                if first:
                    failpoints.hit("mid-download")  # bytes in the .part file, not in place yet
            _check_complete(response, size, shown)
    except httpx.RequestError as exc:
        raise DownloadError(f"downloading {shown} failed: {type(exc).__name__} ({exc}); "
                            "retry later", retryable=True) from exc
    return _Body(digest.hexdigest(), size, head)


def _check_status(response: httpx.Response, shown: str) -> None:
    status = response.status_code
    if response.is_success:
        return
    if status in _EXPIRED:
        raise DownloadError(f"downloading {shown} failed with HTTP {status}: the URL may have "
                            "expired (result URLs typically expire after 24 hours)",
                            retryable=False)
    retryable = status >= 500 or status in _RETRYABLE
    hint = "retry later" if retryable else "the URL cannot be downloaded"
    raise DownloadError(f"downloading {shown} failed with HTTP {status}; {hint}",
                        retryable=retryable)


def _check_complete(response: httpx.Response, size: int, shown: str) -> None:
    """Refuse a body shorter than its Content-Length. Over real HTTP, h11 already raises for
    that (RemoteProtocolError); this catches transports that do not. With a Content-Encoding
    the length counts encoded bytes, which only the HTTP layer sees."""
    announced = _content_length(response)
    encoded = response.headers.get("content-encoding", "identity") != "identity"
    if announced is not None and not encoded and size < announced:
        raise DownloadError(f"downloading {shown} was cut short: got {size} of {announced} "
                            "bytes; retry later", retryable=True)


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length", "")
    return int(raw) if raw.isdigit() else None


def _check_size(size: int, shown: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise DownloadError(f"{shown} is larger than the {max_bytes}-byte limit; nothing was "
                            "saved", retryable=False)


def _media_type(head: bytes) -> str | None:
    """The image type the first bytes announce: PNG, JPEG or WebP (RIFF....WEBP), else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _move_into_place(part: Path, dest: Path) -> None:
    """Atomically replace ``dest`` with the fsynced ``part``, then make the rename durable."""
    os.replace(part, dest)
    fsync_dir(dest.parent)


def _shown(url: str) -> str:
    """The URL without its query string (signed URLs carry tokens there) for messages."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() if parts.query else url
