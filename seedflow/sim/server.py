"""The HTTP server: stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, in a background thread."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from seedflow.sim.config import Answer, Fault, SimConfig
from seedflow.sim.core import Core, Counters, Request, TaskView
from seedflow.sim.wire import Reply

Log = Callable[[str], None]


class Simulator:
    """Both providers' HTTP APIs on one loopback port, with latency, limits and faults.

    Not started by ``__init__``: call :meth:`start` (or use it as a context manager).
    """

    def __init__(self, config: SimConfig | None = None, *, log: Log | None = None) -> None:
        self._core = Core(config or SimConfig())
        self._log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SimConfig:
        """The live settings: change fields to change behaviour from the next request on."""
        return self._core.config

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server (the real port when 0 was asked)."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._core.base_url

    @property
    def counters(self) -> Counters:
        """A snapshot of what has been served."""
        return self._core.counters()

    @property
    def tasks(self) -> Mapping[str, TaskView]:
        """A read-only snapshot of the recorded tasks, by id."""
        return MappingProxyType(self._core.tasks())

    def inject(self, fault: Fault | Answer, times: int = 1, endpoint: str | None = None) -> None:
        """Serve ``fault`` (or a documented :class:`~seedflow.sim.Answer`) to the next ``times``
        requests at ``endpoint``.

        ``endpoint`` is "create", "poll" or "download" (default: the fault's first endpoint in
        ``seedflow.sim.config.ENDPOINTS``). Injections are served in the order they were made.
        """
        self._core.inject(fault, times, endpoint)

    def start(self) -> None:
        """Bind the port and serve in a background thread (OSError if the port is taken)."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        config = self._core.config
        self._server = _Server((config.host, config.port), self._core, self._log)
        host = config.host if config.host not in ("", "0.0.0.0") else "127.0.0.1"
        self._core.start(f"http://{host}:{self._server.server_address[1]}")
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="seedflow-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._core.stop()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], core: Core, log: Log | None) -> None:
        self.core = core
        self.log = log
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Cut the open (keep-alive) connections, so that a stopped server answers nothing."""
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (e.g. timed out on a slow answer)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "seedflow-sim"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        server = cast(_Server, self.server)
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = cast(_Server, self.server)
        with server.connections_lock:
            server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib log; requests are logged by :meth:`_serve`."""

    def _serve(self) -> None:
        server = cast(_Server, self.server)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return
        split = urlsplit(self.path)
        host = self.headers.get("Host")
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query)),
            authorization=self.headers.get("Authorization", ""),
            base_url=f"http://{host}" if host else server.core.base_url,
            body=self.rfile.read(length) if length > 0 else b"",
        )
        reply = server.core.handle(request)
        if server.log is not None:
            note = f" ({reply.note})" if reply.note else ""
            server.log(f"{self.command} {self.path} {reply.status or 'dropped'}{note}")
        self._send(reply, server.core.stopping)

    def _send(self, reply: Reply, stopping: threading.Event) -> None:
        if reply.drop:
            self.close_connection = True
            return
        if reply.delay > 0:
            stopping.wait(reply.delay)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.truncate_to is None:
            self.wfile.write(reply.body)
        else:
            self.wfile.write(reply.body[:reply.truncate_to])
            self.close_connection = True
