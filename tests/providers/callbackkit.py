"""A callback receiver in a process of its own, and raw loopback sockets to attack it with.

``python callbackkit.py LIMITS_JSON`` runs a :class:`CallbackReceiver` with those limits and a
:class:`Wakeups` listening to it, as apply does; it prints its port, then answers ``state`` on
stdin with a JSON line (queued callbacks, open connections, task ids remembered) and stops when
stdin closes. :class:`ReceiverProcess` drives it; its memory and descriptors are read from
/proc, so what is measured is the receiver alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from seedflow.apply.wakeups import Wakeups
from seedflow.providers.callback import CallbackReceiver, Limits

TIMEOUT = 20.0


class ReceiverProcess:
    """A receiver subprocess (``python -X dev``: every warning and unclosed resource shows)."""

    def __init__(self, limits: Limits | None = None, *, descriptors: int | None = None) -> None:
        """``descriptors`` caps the process's open files (RLIMIT_NOFILE), as a small
        ``ulimit -n`` would."""
        self.limits = limits or Limits()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDFLOW_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "dev", __file__, json.dumps(asdict(self.limits))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, preexec_fn=None if descriptors is None else _file_limit(descriptors))
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def __enter__(self) -> ReceiverProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def state(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("state\n")
        self.proc.stdin.flush()
        state: dict[str, int] = json.loads(self.proc.stdout.readline())
        return state

    def rss(self) -> int:
        """Resident memory in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> tuple[int, str, float]:
        """Close stdin; the exit code, everything on stderr, and how long stopping took."""
        started = time.monotonic()
        _, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, err, time.monotonic() - started


def _file_limit(descriptors: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))
    return limit


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the receiver sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` on a new connection; the whole answer, up to the receiver's close."""
    with connect(port) as sock:
        sock.sendall(request)
        return until_closed(sock)


def post_request(body: bytes, headers: dict[str, str] | None = None, *,
                 close: bool = True) -> bytes:
    lines = ["POST /callback HTTP/1.1", "Host: receiver", f"Content-Length: {len(body)}",
             "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def callback(task_id: str, **record: Any) -> bytes:
    data = {"taskId": task_id, "state": "success", "failCode": "", "failMsg": "",
            "resultJson": json.dumps({"resultUrls": ["https://x.test/1.png"]}), **record}
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


async def _serve(limits: Limits) -> None:
    async with CallbackReceiver(None, limits=limits) as receiver:
        wakeups = Wakeups(receiver.events)
        async with wakeups.listening():
            print(receiver.url.rsplit(":", 1)[1].split("/")[0], flush=True)
            while (await asyncio.to_thread(sys.stdin.readline)).strip() == "state":
                await asyncio.sleep(0.05)   # let the listener take what is queued
                print(json.dumps({"events": receiver.events.qsize(),
                                  "connections": receiver.connections,
                                  "remembered": wakeups.remembered}), flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(Limits(**json.loads(sys.argv[1]))))


def answer(sock: socket.socket) -> bytes:
    """One answer on a connection that stays open (its body is the JSON ``msg`` object)."""
    data = b""
    while not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def drained(sock: socket.socket) -> bytes:
    """Everything until the receiver closes the connection; ``b""`` when it reset it."""
    try:
        return until_closed(sock)
    except ConnectionResetError:
        return b""


def declared_too_big(port: int, body: bytes) -> bytes:
    """Announce ``body`` in full, read the answer, then try to send the body anyway."""
    with connect(port) as sock:
        head, _, rest = post_request(body).partition(b"\r\n\r\n")
        sock.sendall(head + b"\r\n\r\n")
        got = until_closed(sock)
        with contextlib.suppress(OSError):
            sock.sendall(rest)
        return got


def attempt(port: int, request: bytes) -> bytes:
    """Like :func:`exchange`, but a connection closed or reset at once answers ``b""``."""
    try:
        return exchange(port, request)
    except OSError:
        return b""
