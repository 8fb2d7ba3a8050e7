"""A small local receiver for Apikley (kie.ai-style) task callbacks.

With ``callBackUrl`` set, the provider POSTs ``{"code", "msg", "data"}`` when a task finishes;
``data`` is the same task record ``recordInfo`` returns, so it is converted by the very function
:meth:`ApikleyClient.fetch` uses (:func:`seedflow.providers.apikley.client.task_state`). Each
accepted callback puts ``(task_id, TaskState)`` on :attr:`CallbackReceiver.events`, an
``asyncio.Queue`` the executor awaits; polling stays the source of truth, so a callback only
makes a result arrive sooner.

With a ``secret``, a callback must carry ``X-Webhook-Timestamp`` (Unix seconds, at most
``max_age`` seconds away from now) and ``X-Webhook-Signature`` =
base64(HMAC-SHA256(key=secret, msg=taskId + "." + timestamp)), compared in constant time;
anything else gets 401 and is dropped. (kie.ai signs this way; Apikley documents no signature,
so use ``secret=None`` there.) Accepted callbacks are answered ``{"code":200,"msg":"success"}``.

The server is plain ``asyncio.start_server`` HTTP/1.1 (one request per connection, bodies with
Content-Length only), listening on 127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from types import TracebackType
from typing import Any

from seedflow.providers.apikley.client import task_state
from seedflow.providers.base import TaskState

PATH = "/callback"
MAX_AGE = 300.0
MAX_BODY = 1 << 20
MAX_HEADERS = 100
READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large"}


def signature(secret: str, task_id: str, timestamp: str) -> str:
    """The ``X-Webhook-Signature`` value for a task id and ``X-Webhook-Timestamp``."""
    mac = hmac.new(secret.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def verify(secret: str, task_id: str, headers: dict[str, str], *, max_age: float) -> bool:
    """Whether ``headers`` (lower-case names) carry a fresh, valid signature for ``task_id``."""
    timestamp = headers.get("x-webhook-timestamp", "")
    given = headers.get("x-webhook-signature", "")
    if not timestamp.isdigit():
        return False
    fresh = abs(time.time() - int(timestamp)) <= max_age
    expected = signature(secret, task_id, timestamp).encode()
    return hmac.compare_digest(expected, given.encode()) and fresh


class CallbackReceiver:
    """Receives task callbacks at :attr:`url`; use ``async with`` (or ``start``/``stop``)."""

    def __init__(self, secret: str | None, host: str = "127.0.0.1", port: int = 0, *,
                 max_age: float = MAX_AGE) -> None:
        self.events: asyncio.Queue[tuple[str, TaskState]] = asyncio.Queue()
        self._secret = secret
        self._host = host
        self._port = port
        self._max_age = max_age
        self._server: asyncio.Server | None = None

    def __repr__(self) -> str:
        signed = self._secret is not None
        return f"CallbackReceiver(host={self._host!r}, port={self._port}, signed={signed})"

    @property
    def url(self) -> str:
        """The URL to pass as ``callBackUrl`` (known once started; ``port=0`` picks one)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{PATH}"

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CallbackReceiver:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def _accept(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Check one callback and deliver its state; return the HTTP status and ``msg``."""
        data = _record(body)
        if data is None:
            return 400, "expected a JSON object with data.taskId"
        task_id = data["taskId"]
        if self._secret is not None and not verify(self._secret, task_id, headers,
                                                   max_age=self._max_age):
            return 401, "missing, stale or wrong X-Webhook-Signature"
        try:
            state = task_state(data)
        except ValueError as exc:
            return 400, f"unreadable task record: {exc}"
        self.events.put_nowait((task_id, state))
        return 200, "success"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request, then close the connection (a sender that left gets nothing)."""
        with contextlib.suppress(ConnectionError):
            try:
                status, msg = await asyncio.wait_for(self._answer(reader), READ_TIMEOUT)
            except (TimeoutError, ValueError, asyncio.IncompleteReadError):
                status, msg = 400, "malformed request"
            body = json.dumps({"code": status, "msg": msg}).encode()
            writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                         "Content-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await writer.drain()
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, str]:
        method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
        headers = await _headers(reader)
        if target.split("?", 1)[0] != PATH:
            return 404, f"callbacks are received at {PATH}"
        if method != "POST":
            return 405, "only POST is accepted"
        length = headers.get("content-length", "")
        if not length.isdigit():
            return 411, "a Content-Length is required"
        if int(length) > MAX_BODY:
            return 413, f"bodies over {MAX_BODY} bytes are refused"
        return self._accept(headers, await reader.readexactly(int(length)))


async def _headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read header lines up to the blank line; names lower-cased."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("too many header lines")


def _record(body: bytes) -> dict[str, Any] | None:
    """The callback's ``data`` when it is an object with a string ``taskId``, else None."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, dict) and isinstance(data.get("taskId"), str) and data["taskId"]:
        return data
    return None
