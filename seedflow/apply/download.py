"""Downloading a generated image into place: streamed, hashed, size-capped, checked, atomic.

The bytes go to a hidden temporary file beside the destination (``.NAME.XXXX.part``) while their
SHA-256 is computed; only a complete PNG, JPEG or WebP within the size cap, whose header and
dimensions Pillow reads (at most :data:`MAX_PIXELS` pixels) and whose digest is the expected one
(a restore passes the lock's), is fsynced and moved into place with ``os.replace`` (then the
folder is fsynced), so the destination path holds either its old content or the whole new
image, even across a crash. The whole download, redirects included, must finish within
``deadline`` seconds. Redirects are followed here, at most :data:`MAX_REDIRECTS`, and only to
http and https. Which addresses may be connected to is the HTTP client's business
(:mod:`seedflow.apply.network`).

Every failure removes the temporary file and raises :class:`DownloadError`, whose ``retryable``
says whether trying again can help: an expired result URL (404/410/403) cannot, a truncated
body, a 5xx, a network error or a passed deadline can. :class:`DownloadRefused` is the subset
where seedflow refused the URL or the bytes (an address it may not connect to, a redirect to
another scheme, bytes other than the lock records): never retried, and not a sign that the
result URL expired.
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
from PIL import ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from seedflow import failpoints
from seedflow.atomic import fsync_dir, temp_beside
from seedflow.errors import SeedflowError

MAX_BYTES = 50 * 2**20
MAX_PIXELS = 50_000_000    # 7071×7071; Seedream 4.0's largest output is 4096×4096 (16.8 MP)
DEADLINE = 300.0           # seconds for one whole download (SEEDFLOW_DOWNLOAD_DEADLINE)
MAX_REDIRECTS = 10
_EXPIRED = (403, 404, 410)
_RETRYABLE = (408, 425, 429)
_HEAD = 12


class DownloadError(SeedflowError):
    """An image could not be downloaded; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class DownloadRefused(DownloadError):
    """seedflow refused the URL or what it served (see the module docstring): never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


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
                   max_bytes: int = MAX_BYTES, deadline: float = DEADLINE,
                   sha256: str | None = None) -> Downloaded:
    """Download the image at ``url`` to ``dest`` atomically (see the module docstring); with
    ``sha256``, only those exact bytes are put in place."""
    shown = _shown(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadRefused(f"refusing to download {shown}: only http and https URLs are "
                              "accepted")
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DownloadRefused(f"refusing to download {shown[:200]}: {exc}") from exc
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            return await _download_to(http, url, shown, dest, max_bytes, sha256)
    except TimeoutError as exc:   # an OSError too: which one is it?
        if not timer.expired():
            raise _unwritable(dest, exc) from exc
        raise DownloadError(f"downloading {shown} took longer than {deadline:g}s "
                            "(SEEDFLOW_DOWNLOAD_DEADLINE); nothing was saved, retry later",
                            retryable=True) from None
    except OSError as exc:
        raise _unwritable(dest, exc) from exc


def _unwritable(dest: Path, exc: OSError) -> DownloadError:
    return DownloadError(f"cannot write {dest}: {exc.strerror or exc}", retryable=False)


async def _download_to(http: httpx.AsyncClient, url: str, shown: str, dest: Path,
                       max_bytes: int, sha256: str | None) -> Downloaded:
    """Stream into a ``.part`` file beside ``dest``, check it, then move it into place."""
    fd, part = await _opened_part(dest)
    try:
        with os.fdopen(fd, "w+b") as out:
            body = await _stream(http, url, shown, out, max_bytes)
            media_type = _media_type(body.head)
            if media_type is None:
                raise DownloadError(f"{shown} is not a PNG, JPEG or WebP image; nothing was "
                                    "saved", retryable=False)
            out.flush()
            await asyncio.to_thread(_check_and_sync, out, media_type, shown, body.sha256, sha256)
        await asyncio.to_thread(_move_into_place, part, dest)
    finally:
        part.unlink(missing_ok=True)
    return Downloaded(body.sha256, body.size, media_type)


async def _opened_part(dest: Path) -> tuple[int, Path]:
    """The ``.part`` file beside ``dest``, made in a worker thread (creating a file can take a
    while on a busy disk). Cancelled meanwhile, the file is closed and removed once made."""
    opening = asyncio.ensure_future(asyncio.to_thread(_open_part, dest))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_discard_part)
        raise


def _open_part(dest: Path) -> tuple[int, Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return temp_beside(dest)


def _discard_part(opening: asyncio.Future[tuple[int, Path]]) -> None:
    if opening.cancelled() or opening.exception() is not None:
        return
    fd, part = opening.result()
    os.close(fd)
    part.unlink(missing_ok=True)


def _check_and_sync(out: BinaryIO, media_type: str, shown: str, got: str,
                    sha256: str | None) -> None:
    """Check the image (and that it is the bytes ``sha256`` names), then make it durable."""
    _check_image(out, media_type, shown)
    if sha256 is not None and got != sha256:
        raise DownloadRefused(f"{shown} served other bytes than the lock records "
                              f"(sha256 {got[:12]}…, not {sha256[:12]}…); nothing was saved")
    os.fsync(out.fileno())


async def _stream(http: httpx.AsyncClient, url: str, shown: str, out: BinaryIO,
                  max_bytes: int) -> _Body:
    """Follow redirects to the body and stream it into ``out``; translate every way it can go
    wrong into DownloadError."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with http.stream("GET", url, follow_redirects=False) as response:
                if not response.is_redirect:
                    return await _receive(response, shown, out, max_bytes)
                url = _redirect_target(response, shown)
        except httpx.RequestError as exc:
            raise DownloadError(f"downloading {shown} failed: {type(exc).__name__} ({exc}); "
                                "retry later", retryable=True) from exc
        except httpx.InvalidURL as exc:   # httpx reads a redirect's Location even unfollowed
            raise DownloadRefused(f"{shown} redirects to a URL seedflow cannot download "
                                  f"({exc}; only http and https URLs); nothing was saved") \
                from exc
    raise DownloadError(f"{shown} redirects more than {MAX_REDIRECTS} times; nothing was saved",
                        retryable=False)


def _redirect_target(response: httpx.Response, shown: str) -> str:
    """Where a redirect leads: an http or https URL, else DownloadRefused."""
    location = response.headers.get("location", "")
    target = response.url.join(location)   # a Location httpx cannot read never gets here
    if target.scheme not in ("http", "https"):
        raise DownloadRefused(f"{shown} redirects to {_shown(location)[:80]}, which seedflow "
                              "does not download (only http and https URLs); nothing was saved")
    return str(target)


async def _receive(response: httpx.Response, shown: str, out: BinaryIO,
                   max_bytes: int) -> _Body:
    """Check the answer's status and size, then stream its body into ``out``."""
    digest, size, head = hashlib.sha256(), 0, b""
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


_DECODERS: dict[str, type[ImageFile.ImageFile]] = {
    "image/png": PngImagePlugin.PngImageFile,
    "image/jpeg": JpegImagePlugin.JpegImageFile,
    "image/webp": WebPImagePlugin.WebPImageFile,
}


def _check_image(body: BinaryIO, media_type: str, shown: str,
                 max_pixels: int = MAX_PIXELS) -> None:
    """Pillow reads the header and dimensions (and, for PNG, every chunk's CRC) without decoding
    pixels; the pixel count is capped before anything is kept. The format's own class is
    used, not ``Image.open``, which would print a decompression-bomb warning first."""
    body.seek(0)
    kind = media_type.removeprefix("image/").upper()
    try:
        with _DECODERS[media_type](body) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise DownloadError(f"{shown} is a {width}×{height} image, more than the "
                                    f"{max_pixels:,}-pixel limit; nothing was saved",
                                    retryable=False)
            image.verify()
    except DownloadError:
        raise
    except Exception as exc:  # a decoder fed hostile bytes can raise almost anything
        raise DownloadError(f"{shown} starts like a {kind} image but is not a readable one "
                            f"({type(exc).__name__}: {str(exc)[:100]}); nothing was saved",
                            retryable=False) from exc


def _move_into_place(part: Path, dest: Path) -> None:
    """Atomically replace ``dest`` with the fsynced ``part``, then make the rename durable."""
    os.replace(part, dest)
    fsync_dir(dest.parent)


def _shown(url: str) -> str:
    """The URL without its query string (signed URLs carry tokens there) for messages."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() if parts.query else url
