"""Downloads: over loopback from the simulator's file host, and MockTransport for odd bodies."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from seedflow.apply.download import Downloaded, DownloadError, download
from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.sim import Fault, Simulator

Settle = Callable[[ProviderClient, str], Awaitable[TaskState]]


def encoded(kind: str, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, kind)
    return out.getvalue()


PNG, JPEG, WEBP = encoded("PNG"), encoded("JPEG"), encoded("WEBP")


@pytest.fixture
def image_url(sim: Simulator, settle: Settle) -> str:
    """The URL of a finished simulator image."""
    async def make() -> TaskState:
        c = ApikleyClient(httpx.AsyncClient(), base_url=sim.base_url, api_key="test-key")
        try:
            request = {"model": "bytedance/seedream-v4-text-to-image",
                       "input": {"prompt": "a lighthouse at dusk"}}
            return await settle(c, await c.submit(request))
        finally:
            await c.aclose()

    state = asyncio.run(make())
    assert state.status is TaskStatus.SUCCEEDED
    return state.image_urls[0]


def get(http_factory: Callable[[], httpx.AsyncClient], url: str, dest: Path,
        max_bytes: int = 50 * 2**20) -> Downloaded:
    async def run() -> Downloaded:
        async with http_factory() as http:
            return await download(http, url, dest, max_bytes=max_bytes)

    return asyncio.run(run())


def loopback() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=5.0)


def mock(content: bytes | Callable[[], AsyncIterator[bytes]], status: int = 200,
         headers: dict[str, str] | None = None) -> Callable[[], httpx.AsyncClient]:
    """A factory of clients whose every GET answers ``content`` (bytes or an async stream)."""
    def handler(request: httpx.Request) -> httpx.Response:
        if callable(content):
            return httpx.Response(status, headers=headers, stream=_Stream(content))
        return httpx.Response(status, content=content, headers=headers)

    return lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks():
            yield chunk


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- loopback, against the simulator -------------------------------------------------------

def test_happy_path_hash_is_the_sha256_of_the_served_bytes(image_url: str,
                                                            tmp_path: Path) -> None:
    dest = tmp_path / "out" / "lighthouse.png"
    got = get(loopback, image_url, dest)
    served = httpx.get(image_url).content
    assert got == Downloaded(hashlib.sha256(served).hexdigest(), len(served), "image/png")
    assert dest.read_bytes() == served
    assert Image.open(io.BytesIO(served)).format == "PNG"
    assert leftovers(tmp_path) == ["out", "out/lighthouse.png"]


def test_an_existing_file_is_replaced(image_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "a.png"
    dest.write_bytes(b"old")
    got = get(loopback, image_url, dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == got.sha256


def test_truncated_download_is_retryable_and_keeps_the_old_file(
        sim: Simulator, image_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "a.png"
    dest.write_bytes(b"old")
    sim.inject(Fault.DOWNLOAD_TRUNCATED, endpoint="download")
    with pytest.raises(DownloadError) as caught:
        get(loopback, image_url, dest)
    assert caught.value.retryable
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["a.png"]


def test_404_is_not_retryable_and_says_the_url_may_have_expired(
        sim: Simulator, image_url: str, tmp_path: Path) -> None:
    sim.inject(Fault.DOWNLOAD_404, endpoint="download")
    with pytest.raises(DownloadError) as caught:
        get(loopback, image_url, tmp_path / "a.png")
    assert not caught.value.retryable
    assert "HTTP 404" in caught.value.message
    assert "may have expired" in caught.value.message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.HTTP_503, Fault.DROP_BEFORE_RECORD])
def test_server_and_transport_errors_are_retryable(sim: Simulator, image_url: str,
                                                   tmp_path: Path, fault: Fault) -> None:
    sim.inject(fault, endpoint="download")
    with pytest.raises(DownloadError) as caught:
        get(loopback, image_url, tmp_path / "a.png")
    assert caught.value.retryable
    assert leftovers(tmp_path) == []


def test_slow_download_times_out_retryably(sim: Simulator, image_url: str,
                                           tmp_path: Path) -> None:
    sim.config.slow_seconds = 2.0
    sim.inject(Fault.SLOW_RESPONSE, endpoint="download")
    with pytest.raises(DownloadError) as caught:
        get(lambda: httpx.AsyncClient(timeout=0.3), image_url, tmp_path / "a.png")
    assert caught.value.retryable
    assert leftovers(tmp_path) == []


def test_size_cap_aborts_and_deletes(image_url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        get(loopback, image_url, tmp_path / "a.png", max_bytes=100)
    assert not caught.value.retryable
    assert "100-byte limit" in caught.value.message
    assert leftovers(tmp_path) == []


# --- MockTransport -----------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "media_type"), [
    (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")])
def test_png_jpeg_and_webp_are_accepted(tmp_path: Path, content: bytes, media_type: str) -> None:
    got = get(mock(content), "https://cdn.example.com/x", tmp_path / "x")
    assert got == Downloaded(hashlib.sha256(content).hexdigest(), len(content), media_type)


@pytest.mark.parametrize("content", [b"<html>Access denied</html>", b"", b"GIF89a" + b"\0" * 20,
                                     b"RIFF\0\0\0\0WAVEfmt "])
def test_non_image_bytes_are_refused_and_deleted(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(DownloadError) as caught:
        get(mock(content), "https://cdn.example.com/x.png", tmp_path / "x.png")
    assert not caught.value.retryable
    assert "not a PNG, JPEG or WebP" in caught.value.message
    assert leftovers(tmp_path) == []


def test_a_streamed_body_over_the_cap_is_aborted(tmp_path: Path) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield PNG
        for _ in range(1000):
            sent.append(1)
            yield b"\0" * 1024

    with pytest.raises(DownloadError):
        get(mock(endless), "https://cdn.example.com/x.png", tmp_path / "x.png", max_bytes=4096)
    assert len(sent) < 10
    assert leftovers(tmp_path) == []


def test_an_announced_size_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    factory = mock(PNG, headers={"Content-Length": str(10**9)})
    with pytest.raises(DownloadError) as caught:
        get(factory, "https://cdn.example.com/x.png", tmp_path / "x.png", max_bytes=4096)
    assert "4096-byte limit" in caught.value.message
    assert leftovers(tmp_path) == []


def test_a_body_shorter_than_its_content_length_is_truncated(tmp_path: Path) -> None:
    async def short() -> AsyncIterator[bytes]:
        yield PNG

    factory = mock(short, headers={"Content-Length": str(len(PNG) + 50)})
    with pytest.raises(DownloadError) as caught:
        get(factory, "https://cdn.example.com/x.png", tmp_path / "x.png")
    assert caught.value.retryable
    assert "cut short" in caught.value.message
    assert leftovers(tmp_path) == []


def test_a_transport_error_mid_body_is_retryable(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield PNG
        raise httpx.RemoteProtocolError("peer closed connection")

    with pytest.raises(DownloadError) as caught:
        get(mock(broken), "https://cdn.example.com/x.png", tmp_path / "x.png")
    assert caught.value.retryable
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("status", "retryable"), [
    (403, False), (404, False), (410, False), (400, False), (429, True), (500, True),
    (502, True)])
def test_http_errors(tmp_path: Path, status: int, retryable: bool) -> None:
    with pytest.raises(DownloadError) as caught:
        get(mock(b"nope", status), "https://cdn.example.com/x.png?sig=SECRET", tmp_path / "x")
    assert caught.value.retryable is retryable
    assert ("may have expired" in caught.value.message) == (status in (403, 404, 410))
    assert "SECRET" not in caught.value.message
    assert "https://cdn.example.com/x.png" in caught.value.message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.png",
                                 "data:image/png;base64,AAAA", "/tmp/x.png", "javascript:x"])
def test_non_http_urls_are_refused(tmp_path: Path, url: str) -> None:
    called: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        called.append(request)
        return httpx.Response(200, content=PNG)

    with pytest.raises(DownloadError) as caught:
        get(lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)), url,
            tmp_path / "sub" / "x.png")
    assert not caught.value.retryable
    assert "only http and https" in caught.value.message
    assert called == []
    assert leftovers(tmp_path) == []


def test_an_unwritable_destination_is_a_download_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(DownloadError) as caught:
        get(mock(PNG), "https://cdn.example.com/x.png", blocker / "x.png")
    assert not caught.value.retryable
    assert leftovers(tmp_path) == ["file"]


def test_cancellation_leaves_no_part_file(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield PNG
        started.set()
        await asyncio.sleep(60)
        yield b""

    async def run() -> None:
        async with mock(stalled)() as http:
            job = asyncio.create_task(download(http, "https://cdn.example.com/x.png",
                                               tmp_path / "x.png"))
            await started.wait()
            assert [p.suffix for p in tmp_path.iterdir()] == [".part"]
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job

    asyncio.run(run())
    assert leftovers(tmp_path) == []
