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

Anyone who can reach the port may send anything, so every resource is bounded (:class:`Limits`):
HTTP/1.1 is parsed by h11 over the loop's non-blocking sockets; a request's line and headers
must arrive within ``header_time`` (which also ends an idle keep-alive connection) and fit in
``header`` bytes (431); a body needs a Content-Length (411) of at most ``body`` bytes (413,
before any of it is read) and must arrive within ``body_time`` (408); at most ``connections``
are open at once, and one more is answered 503 and closed at once. Connections are accepted one
at a time (asyncio's server accepts a whole backlog before serving any), so a flood cannot take
the file descriptors the downloads need. A task id that is too long or has characters no
provider uses is refused (400) and never stored, and at most ``pending`` callbacks wait in
:attr:`~CallbackReceiver.events` (503 beyond). :meth:`~CallbackReceiver.stop` closes every open
connection and waits for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import hmac
import json
import re
import socket
import time
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any

import h11

from seedflow.providers.apikley.client import task_state
from seedflow.providers.base import TaskState

PATH = "/callback"
MAX_AGE = 300.0
_CHUNK = 8 * 1024
_BACKLOG = 128
_ACCEPT_RETRY = 0.5
_LINGER_BYTES = 64 * 1024
_LINGER_TIME = 1.0
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


@dataclass(frozen=True)
class Limits:
    """The most one receiver holds for its senders; each is an attacker's ceiling too."""

    body: int = 64 * 1024
    """Bytes in a request body; a larger Content-Length is answered 413 unread."""
    header: int = 16 * 1024
    """Bytes of a request line and headers held before their end arrives (431 beyond)."""
    header_time: float = 5.0
    """Seconds for a request's line and headers to arrive, from the connection's opening or the
    previous answer (so it also ends an idle keep-alive connection)."""
    body_time: float = 10.0
    """Seconds for the body to arrive once the headers are in."""
    connections: int = 64
    """Connections open at once; another is answered 503 and closed at once."""
    pending: int = 256
    """Accepted callbacks waiting in ``events``; more are answered 503 (polling finds them)."""
    task_id: int = 4096
    """Characters in a plausible task id (the simulator's self-describing ids are long)."""


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


def plausible(task_id: str, limit: int = Limits.task_id) -> bool:
    """Whether ``task_id`` could be a provider's: letters, digits and ``._:-``, at most
    ``limit`` characters."""
    return len(task_id) <= limit and _TASK_ID.fullmatch(task_id) is not None


class _Refused(Exception):
    """A request is answered with an error and its connection closed."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


class CallbackReceiver:
    """Receives task callbacks at :attr:`url`; use ``async with`` (or ``start``/``stop``)."""

    def __init__(self, secret: str | None, host: str = "127.0.0.1", port: int = 0, *,
                 max_age: float = MAX_AGE, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self.events: asyncio.Queue[tuple[str, TaskState]] = asyncio.Queue(
            self._limits.pending)
        self._secret = secret
        self._host = host
        self._port = port
        self._max_age = max_age
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._open: dict[asyncio.Task[None], socket.socket] = {}

    def __repr__(self) -> str:
        signed = self._secret is not None
        return f"CallbackReceiver(host={self._host!r}, port={self._port}, signed={signed})"

    @property
    def url(self) -> str:
        """The URL to pass as ``callBackUrl`` (known once started; ``port=0`` picks one)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{PATH}"

    @property
    def connections(self) -> int:
        """How many connections are open (at most ``limits.connections``)."""
        return len(self._open)

    async def start(self) -> None:
        """Start listening."""
        self._listeners = await _listen(self._host, self._port)
        self._port = self._listeners[0].getsockname()[1]
        self._accepting = [asyncio.create_task(self._accept_each(listener))
                           for listener in self._listeners]

    async def stop(self) -> None:
        """Stop listening and close every open connection (idempotent)."""
        listeners, self._listeners = self._listeners, []
        tasks = [*self._accepting, *self._open]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for listener in listeners:
            listener.close()
        self._accepting = []

    async def __aenter__(self) -> CallbackReceiver:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- connections -----------------------------------------------------------------------

    async def _accept_each(self, listener: socket.socket) -> None:
        """Accept connections one at a time, so a flood holds at most ``limits.connections``
        descriptors (plus the one being turned away), never the ones downloads need."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as exc:   # out of descriptors, or a sender gone before its accept
                # (never a busy loop, whatever the error)
                await asyncio.sleep(_ACCEPT_RETRY if exc.errno in _EXHAUSTED else 0.01)
                continue
            if len(self._open) >= self._limits.connections:
                _turn_away(sock)
                continue
            task = asyncio.create_task(self._serve(sock))
            self._open[task] = sock
            task.add_done_callback(self._open.pop)

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._converse(sock)
            await _linger(sock)
        except (OSError, h11.ProtocolError):   # a sender that left (or stalled a write)
            pass
        finally:
            sock.close()

    async def _converse(self, sock: socket.socket) -> None:
        """Answer requests until one is refused, the sender closes, or it keeps us waiting."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.header)
        while True:
            try:
                outcome = await self._exchange(conn, sock)
            except _Refused as refused:
                outcome = refused.status, refused.msg
            except h11.RemoteProtocolError as exc:
                outcome = exc.error_status_hint, "malformed request"
            if outcome is None or conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
                return
            status, msg = outcome
            keep = status == 200 and conn.their_state is h11.DONE
            async with asyncio.timeout(self._limits.header_time):
                await asyncio.get_running_loop().sock_sendall(
                    sock, _answer(conn, status, msg, keep=keep))
            if not (keep and _finished(conn)):
                return
            conn.start_next_cycle()

    async def _exchange(self, conn: h11.Connection, sock: socket.socket
                        ) -> tuple[int, str] | None:
        """Read one request; its status and ``msg`` (None: the sender left or kept silent)."""
        loop = asyncio.get_running_loop()
        try:
            event = await _next(conn, sock, loop.time() + self._limits.header_time)
        except TimeoutError:
            if conn.trailing_data[0]:
                raise _Refused(408, "the request headers took too long") from None
            return None
        if not isinstance(event, h11.Request):
            return None
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in event.headers}
        self._check(event, headers)
        body = bytearray()
        deadline = loop.time() + self._limits.body_time
        try:
            while isinstance(event := await _next(conn, sock, deadline), h11.Data):
                body += event.data
        except TimeoutError:
            raise _Refused(408, "the request body took too long") from None
        if not isinstance(event, h11.EndOfMessage):
            return None
        return self._accept(headers, bytes(body))

    def _check(self, request: h11.Request, headers: dict[str, str]) -> None:
        """Refuse a request before its body is read."""
        if request.target.split(b"?", 1)[0] != PATH.encode():
            raise _Refused(404, f"callbacks are received at {PATH}")
        if request.method != b"POST":
            raise _Refused(405, "only POST is accepted")
        if "transfer-encoding" in headers or "content-length" not in headers:
            raise _Refused(411, "a Content-Length is required")
        if int(headers["content-length"]) > self._limits.body:
            raise _Refused(413, f"bodies over {self._limits.body} bytes are refused")

    def _accept(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Check one callback and deliver its state; return the HTTP status and ``msg``."""
        data = _record(body)
        if data is None:
            return 400, "expected a JSON object with data.taskId"
        task_id = data["taskId"]
        if not plausible(task_id, self._limits.task_id):
            return 400, "data.taskId is not a task id"
        if self._secret is not None and not verify(self._secret, task_id, headers,
                                                   max_age=self._max_age):
            return 401, "missing, stale or wrong X-Webhook-Signature"
        try:
            state = task_state(data)
        except (ValueError, RecursionError) as exc:
            return 400, f"unreadable task record: {str(exc)[:200]}"
        try:
            self.events.put_nowait((task_id, state))
        except asyncio.QueueFull:
            return 503, "too many callbacks waiting; polling will find the result"
        return 200, "success"


async def _listen(host: str, port: int) -> list[socket.socket]:
    """Non-blocking listening sockets on every address ``host`` names, all on one port."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    listeners: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            listener = socket.socket(family, kind, proto)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:   # each family has its own socket
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            chosen = listeners[0].getsockname()[1] if len(listeners) > 1 else port
            listener.bind((address[0], chosen, *address[2:]))
            listener.listen(_BACKLOG)
            listener.setblocking(False)
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners


async def _linger(sock: socket.socket) -> None:
    """Close our side, then read and drop what the sender still sends (a little, briefly): a
    close with unread bytes resets the connection, and a reset can destroy our answer before
    the sender reads it."""
    sock.shutdown(socket.SHUT_WR)
    loop = asyncio.get_running_loop()
    left = _LINGER_BYTES
    async with asyncio.timeout(_LINGER_TIME):
        while left > 0 and (data := await loop.sock_recv(sock, _CHUNK)):
            left -= len(data)


def _turn_away(sock: socket.socket) -> None:
    """Answer 503 and close, without waiting: a new connection's send buffer holds the answer."""
    with contextlib.suppress(OSError):
        sock.send(_answer(h11.Connection(h11.SERVER), 503, "too many connections; polling "
                          "will find the result", keep=False))
    sock.close()


async def _next(conn: h11.Connection, sock: socket.socket, deadline: float
                ) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
    """The next h11 event, reading from ``sock`` until ``deadline`` (then TimeoutError)."""
    loop = asyncio.get_running_loop()
    while (event := conn.next_event()) is h11.NEED_DATA:
        async with asyncio.timeout_at(deadline):
            data = await loop.sock_recv(sock, _CHUNK)
        conn.receive_data(data)
    return event


def _finished(conn: h11.Connection) -> bool:
    """Whether both sides finished their message and the connection may carry another."""
    return conn.our_state is h11.DONE and conn.their_state is h11.DONE


def _answer(conn: h11.Connection, status: int, msg: str, *, keep: bool) -> bytes:
    """The bytes of a JSON answer ``{"code": status, "msg": msg}``."""
    body = json.dumps({"code": status, "msg": msg}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if not keep:
        headers.append(("Connection", "close"))
    events: list[h11.Event] = [
        h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase),
        h11.Data(data=body), h11.EndOfMessage()]
    return b"".join(conn.send(event) or b"" for event in events)


def _record(body: bytes) -> dict[str, Any] | None:
    """The callback's ``data`` when it is an object with a string ``taskId``, else None."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, dict) and isinstance(data.get("taskId"), str) and data["taskId"]:
        return data
    return None
