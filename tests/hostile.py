"""A hostile network for tests: a tiny HTTP server on 127.0.0.1 playing a provider (the Apikley
protocol) and its image host, misbehaving as each test says; a guard that keeps every
connection and name lookup of the test process on loopback; and a CLI run in a subprocess
that reports its peak memory.

Nothing here sends a packet beyond 127.0.0.0/8: :func:`confine_to_loopback` makes sure of it
even if the code under test tried.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from environment import scrubbed

Answer = Callable[["Handler"], None]
CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        path = self.path.partition("?")[0]
        self.server.owner.hits.append(path)
        answer = self.server.owner.routes.get(path)
        try:
            if answer is None:
                send(404, b"not here")(self)
            else:
                answer(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: what a hostile server hopes for

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Hostile


class Hostile:
    """``with Hostile() as h:`` an HTTP server on 127.0.0.1; ``h.routes[path] = answer``."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.hits: list[str] = []
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    base_url = url   # what the apply tests' ``env`` fixture points the providers at

    def count(self, path: str) -> int:
        return self.hits.count(path)

    def provider(self, *image_paths: str, state: str = "success") -> None:
        """Answer the Apikley protocol: every create is task ``t1``, whose record lists
        ``image_paths`` on this server."""
        urls = json.dumps({"resultUrls": [self.url + p for p in image_paths]})
        self.routes[CREATE] = send(200, json.dumps(
            {"code": 200, "msg": "success", "data": {"taskId": "t1"}}).encode())
        self.routes[RECORD] = send(200, json.dumps(
            {"code": 200, "msg": "success",
             "data": {"taskId": "t1", "state": state, "resultJson": urls}}).encode())

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def send(status: int, body: bytes, headers: dict[str, str] | None = None) -> Answer:
    def answer(h: Handler) -> None:
        h.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)

    return answer


def redirect(location: str) -> Answer:
    return send(302, b"", {"Location": location})


def drip(head: bytes, *, total: int, interval: float) -> Answer:
    """Announce ``total`` bytes, send ``head``, then one byte per ``interval`` seconds."""
    def answer(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(total))
        h.end_headers()
        h.wfile.write(head)
        h.wfile.flush()
        for _ in range(total - len(head)):
            if h.server.owner.stopping.wait(interval):
                return
            h.wfile.write(b"\0")
            h.wfile.flush()

    return answer


def endless(prefix: bytes = b"", *, limit: int = 256 * 2**20) -> Answer:
    """A 200 whose body has no end in sight (no Content-Length: it ends when the connection
    does). It does stop after ``limit`` bytes, so that a regression fails a test rather than
    filling the machine's memory."""
    def answer(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        h.wfile.write(prefix)
        chunk = b" " * 65536
        for _ in range(limit // len(chunk)):
            if h.server.owner.stopping.is_set():
                return
            h.wfile.write(chunk)

    return answer


def blank_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, made row by row (a 13000×13000 one is ~20 KB
    and never exists as pixels in this process)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)   # filter byte, then the row's bits
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


class Confined:
    """What the code under test tried beyond loopback: lookups of unknown names, and connects
    (each refused)."""

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.connects: list[Any] = []


Names = dict[str, list[str] | Callable[[], list[str]]]


def confine_to_loopback(monkeypatch: pytest.MonkeyPatch, names: Names | None = None) -> Confined:
    """Resolve only IP literals, ``localhost`` and ``names`` (name → its addresses, or a
    function giving them at each lookup; they may well be beyond loopback: nothing is ever sent
    there); refuse every connect beyond loopback."""
    confined = Confined()
    real_lookup, real_connect = socket.getaddrinfo, socket.socket.connect
    table: Names = {"localhost": ["127.0.0.1"], **(names or {})}

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.partition("%")[0])
        except ValueError:
            if name not in table:
                confined.lookups.append(name)
                raise socket.gaierror(socket.EAI_NONAME, f"{name}: not in the test's table") \
                    from None
            answer = table[name]
            return [info for address in (answer() if callable(answer) else answer)
                    for info in real_lookup(address, port, *args, **kwargs)]
        return real_lookup(host, port, *args, **kwargs)

    def beyond(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        if ipaddress.ip_address(address[0].partition("%")[0]).is_loopback:
            return False
        confined.connects.append(address)
        return True

    def connect(sock: socket.socket, address: Any) -> None:
        if beyond(sock, address):
            raise ConnectionRefusedError(f"the test refuses to connect to {address[0]}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        return 111 if beyond(sock, address) else real_connect_ex(sock, address)

    real_connect_ex = socket.socket.connect_ex
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return confined


# The peak of this process's own memory: VmHWM (Linux) belongs to the program exec'd; the
# rusage maximum would also count the parent's pages at fork time (the test process's).
_MEASURED = ("import resource, sys\n"
             "from seedflow.cli import main\n"
             "code = main(sys.argv[1:])\n"
             "try:\n"
             "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
             "    kb = int(status.split()[0])\n"
             "except (OSError, IndexError):\n"
             "    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "sys.stderr.write(f'\\npeak-rss-kb {kb}\\n')\n"
             "sys.exit(code)\n")


def run_measured(cwd: Path, args: list[str], env: dict[str, str], *,
                 timeout: float = 120.0) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """``seedflow ARGS`` in a subprocess: its result, peak memory (MB) and wall time (s)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *args], cwd=cwd,
                          env={**scrubbed(os.environ), **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    took = time.monotonic() - started
    peak = next((int(line.split()[1]) for line in reversed(proc.stderr.splitlines())
                 if line.startswith("peak-rss-kb ")), 0)
    return proc, peak / 1024, took


@contextmanager
def unchanged_outside(root: Path, *inside: Path) -> Iterator[None]:
    """Assert that nothing under ``root`` but the ``inside`` folders changed meanwhile."""
    def snapshot() -> dict[str, tuple[int, int]]:
        found = {}
        for path in root.rglob("*"):
            if any(path == p or p in path.parents for p in inside):
                continue
            stat = path.lstat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
        return found

    before = snapshot()
    yield
    assert snapshot() == before


def answered(sockets: list[socket.socket], enough: int, within: float) -> list[socket.socket]:
    """The sockets the other side has answered or closed, once ``enough`` are (or ``within``
    seconds have passed): a flood's connections a server turned away."""
    done: list[socket.socket] = []
    deadline = time.monotonic() + within
    while len(done) < enough and time.monotonic() < deadline:
        done += select.select([s for s in sockets if s not in done], [], [], 0.1)[0]
    return done
