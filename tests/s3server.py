"""A real S3-protocol server over HTTP on loopback, for tests and benchmarks.

``S3Server`` runs moto's standalone S3 server (the one s3fs's own test suite uses) in a child
process - this file, run as a script - on 127.0.0.1 and a free port, behind a small WSGI layer
that the tests can observe and steer through ``/_seedflow/…`` paths:

- request counts per method and the most requests ever in flight at once (``stats()``),
- a delay before every S3 answer (``set_latency``), to make concurrency visible,
- a slow request body (``set_body_rate``), so that a client can be killed mid-upload,
- IAM authentication on or off (``require_auth``: with it on, unknown keys get 403
  ``InvalidAccessKeyId``, as on AWS).

    with S3Server() as server:            # or the session fixture ``s3_server`` (conftest)
        server.create_bucket("images")
        env = server.env()                 # AWS_* variables that reach it (plain http)
        ...

``MinioServer`` offers the same ``env``/``create_bucket`` with a ``minio`` binary, when one is
installed (``MinioServer.available()``); it has no stats or knobs.

No client library is mocked: seedflow's store talks HTTP to these servers as to AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

ACCESS_KEY = "AKIASEEDFLOWTEST0001"
SECRET_KEY = "seedflow-test-secret-not-real"
REGION = "us-east-1"
CONTROL = "/_seedflow/"
_ROOT = Path(__file__).resolve().parents[1]


class S3Server:
    """moto's S3 server in a child process (start/stop, or use as a context manager)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), env.get("PYTHONPATH", "")])
        # stdin stays open while this process lives: the server exits when it closes, so a
        # test run that dies (even by kill -9) leaves no server behind.
        self._proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # "PORT n", once the socket listens
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"moto server did not start: {line!r}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    # --- what a client needs ------------------------------------------------------------------

    def env(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
        """The standard AWS variables that point an S3 client at this server."""
        return {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key,
                "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint}

    def create_bucket(self, name: str) -> None:
        _ok(httpx.put(f"{self.endpoint}/{name}", headers=_unsigned()))

    def reset(self) -> None:
        """Forget every bucket and object; counters and knobs back to zero."""
        _ok(httpx.post(f"{self.endpoint}/moto-api/reset"))
        self._control("reset")

    # --- observing and steering -------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``{"requests": {"PUT": n, …}, "max_inflight": n, "inflight": n, "body_bytes": n}``"""
        return dict(httpx.get(f"{self.endpoint}{CONTROL}stats").json())

    def reset_stats(self) -> None:
        self._control("reset-stats")

    def set_latency(self, seconds: float) -> None:
        self._control("latency", seconds)

    def set_body_rate(self, bytes_per_second: float) -> None:
        """Read request bodies at most this fast (0: as fast as they come)."""
        self._control("body-rate", bytes_per_second)

    def require_auth(self, on: bool) -> None:
        """Check every request's signature against moto's IAM (no user exists: all fail)."""
        _ok(httpx.post(f"{self.endpoint}/moto-api/reset-auth",
                       content=b"0" if on else b"inf"))

    def _control(self, name: str, value: float = 0.0) -> None:
        _ok(httpx.post(f"{self.endpoint}{CONTROL}{name}", content=str(value).encode()))


class MinioServer:
    """A ``minio server`` on loopback, when the binary is installed."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = ""
        self.endpoint = ""

    @staticmethod
    def available() -> bool:
        return shutil.which("minio") is not None

    def __enter__(self) -> MinioServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        self._dir = tempfile.mkdtemp(prefix="seedflow-minio-")
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MINIO_"))},
               "MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY}
        self._proc = subprocess.Popen(
            ["minio", "server", self._dir, "--address", f"127.0.0.1:{port}", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.endpoint}/minio/health/live").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("minio did not start")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def env(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key,
                "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint}

    def create_bucket(self, name: str) -> None:
        import boto3  # installed with moto[server]

        boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, region_name=REGION).create_bucket(
                         Bucket=name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port nothing listens on (bound and closed: connections are refused)."""
    return free_port()


def _unsigned() -> dict[str, str]:
    # moto accepts unsigned requests while authentication is off: enough for test setup.
    return {"Content-Length": "0"}


def _ok(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"S3 test server: {response.status_code} {response.text[:300]}")


# --- the child process -------------------------------------------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Observed:
    """WSGI middleware: counts, in-flight high-water mark, latency, slow bodies, controls."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.inflight = 0
        self.max_inflight = 0
        self.body_bytes = 0
        self.latency = 0.0
        self.body_rate = 0.0

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(path[len(CONTROL):], environ, start)
        method = environ["REQUEST_METHOD"]
        with self.lock:
            self.requests[method] += 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            latency, rate = self.latency, self.body_rate
        try:
            environ["wsgi.input"] = _CountingInput(environ["wsgi.input"], self, rate)
            if latency:
                time.sleep(latency)
            return list(self.app(environ, start))
        finally:
            with self.lock:
                self.inflight -= 1

    def _control(self, name: str, environ: dict[str, Any],
                 start: Callable[..., Any]) -> Iterator[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        value = float(environ["wsgi.input"].read(length) or 0) if length else 0.0
        with self.lock:
            if name == "latency":
                self.latency = value
            elif name == "body-rate":
                self.body_rate = value
            elif name == "reset":
                self.reset()
            elif name == "reset-stats":
                self.requests, self.max_inflight, self.body_bytes = Counter(), self.inflight, 0
            body = json.dumps({"requests": dict(self.requests), "inflight": self.inflight,
                               "max_inflight": self.max_inflight,
                               "body_bytes": self.body_bytes}).encode()
        start("200 OK", [("Content-Type", "application/json"),
                         ("Content-Length", str(len(body)))])
        yield body


class _CountingInput:
    def __init__(self, raw: Any, owner: _Observed, rate: float) -> None:
        self.raw, self.owner, self.rate = raw, owner, rate

    def read(self, size: int = -1) -> bytes:
        if not self.rate:
            return self._count(self.raw.read(size))
        step = max(1, int(self.rate / 20))  # 20 slices a second
        out = bytearray()
        while size < 0 or len(out) < size:
            want = step if size < 0 else min(step, size - len(out))
            chunk = self.raw.read(want)
            if not chunk:
                break
            out += self._count(chunk)
            time.sleep(len(chunk) / self.rate)
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        return self._count(self.raw.readline(size))

    def _count(self, chunk: bytes) -> bytes:
        with self.owner.lock:
            self.owner.body_bytes += len(chunk)
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _serve() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = _Observed(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    def stop() -> None:
        threading.Thread(target=server.shutdown).start()

    def watch_parent() -> None:
        sys.stdin.read()  # returns at EOF: the parent is gone
        stop()

    signal.signal(signal.SIGTERM, lambda *_: stop())
    threading.Thread(target=watch_parent, daemon=True).start()
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve()
