"""The simulator's state and request handling, independent of the HTTP server."""

from __future__ import annotations

import copy
import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from seedflow.sim import callbacks
from seedflow.sim.apikley import Apikley
from seedflow.sim.config import (
    BEFORE,
    CREATE,
    DOWNLOAD,
    ENDPOINTS,
    POLL,
    Answer,
    Fault,
    SimConfig,
)
from seedflow.sim.images import render_png
from seedflow.sim.modellix import Modellix
from seedflow.sim.wire import (
    Dialect,
    Reply,
    Task,
    described,
    dumps,
    echoed,
    json_reply,
    new_task,
    recall,
)

_FILE = re.compile(r"/files/([\w.-]+)/(\d+)\.png")
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request the simulator looks at."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str
    base_url: str
    """Where the client reached the server (from the Host header): result URLs start with it."""
    body: bytes = b""


@dataclass
class Counters:
    """What the simulator has served so far (``sim.counters`` is a snapshot copy)."""

    creates: int = 0
    """Tasks recorded (paid)."""
    create_requests: int = 0
    """Create POSTs received, whatever their outcome."""
    polls: int = 0
    downloads: int = 0
    rejected_429: int = 0
    """429 answers, from the rate limit or an injected HTTP_429."""
    callbacks_sent: int = 0
    """Callbacks the receiver answered with 2xx."""
    callbacks_failed: int = 0
    faults: dict[Fault, int] = field(default_factory=lambda: dict.fromkeys(Fault, 0))
    """Faults served, by kind (every kind present)."""
    answers: dict[Answer, int] = field(default_factory=lambda: dict.fromkeys(Answer, 0))
    """Injected answers served, by kind (every kind present)."""

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


@dataclass(frozen=True)
class TaskView:
    """A recorded task as ``sim.tasks`` shows it."""

    id: str
    provider: str
    request: dict[str, Any]
    state: str
    """The provider's own word (Apikley ``waiting``..``fail``, Modellix ``pending``..``failed``)."""
    images: int
    fails: bool
    """Whether the task ends (or ended) failed."""
    no_result: bool = False
    """Whether it ends (or ended) ``success`` without a result URL."""


@dataclass
class _Injection:
    fault: Fault | Answer
    endpoint: str
    times: int


class Core:
    """Tasks, counters, faults and limits, shared by all request threads."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.base_url = ""
        self.apikley = Apikley(config)
        self.modellix = Modellix(config)
        self.stopping = threading.Event()
        self._dialects: dict[str, Dialect] = {"apikley": self.apikley, "modellix": self.modellix}
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._counts = Counters()
        self._injections: list[_Injection] = []
        self._rng = random.Random(config.seed)
        self._window: deque[float] = deque()
        self._callbacks = callbacks.Scheduler(self._deliver)

    def start(self, base_url: str) -> None:
        """Start background work; ``base_url`` is used where no request says it (callbacks)."""
        self.base_url = base_url
        self._callbacks.start()

    def stop(self) -> None:
        """Release slowed requests and stop callbacks."""
        self.stopping.set()
        self._callbacks.stop()

    def counters(self) -> Counters:
        """A snapshot of the counters."""
        with self._lock:
            return replace(self._counts, faults=dict(self._counts.faults),
                           answers=dict(self._counts.answers))

    def tasks(self) -> dict[str, TaskView]:
        """A snapshot of the recorded tasks."""
        now = time.monotonic()
        with self._lock:
            tasks = list(self._tasks.values())
        return {t.id: TaskView(t.id, t.provider, copy.deepcopy(t.request),
                               self._dialects[t.provider].state(t, now), t.images, t.fails,
                               t.empty)
                for t in tasks}

    def inject(self, fault: Fault | Answer, times: int, endpoint: str | None) -> None:
        """Serve ``fault`` to the next ``times`` requests at ``endpoint``."""
        allowed = ENDPOINTS[fault]
        where = endpoint or allowed[0]
        if where not in allowed:
            raise ValueError(f"{fault} can be served at {', '.join(allowed)}, not {where!r}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._injections.append(_Injection(fault, where, times))

    def handle(self, req: Request) -> Reply:
        """Answer one request (quoting its key back in every message with ``echo_key``)."""
        reply = self._route(req)
        return echoed(reply, req.authorization) if self.config.echo_key else reply

    def _route(self, req: Request) -> Reply:
        """Route one request to its handler."""
        if req.method == "POST" and req.path == "/api/v1/jobs/createTask":
            return self._create(self.apikley, req)
        if req.method == "POST" and req.path == "/api/v1/bytedance/seedream-4.0-t2i":
            return self._create(self.modellix, req)
        if req.method == "GET" and req.path == "/api/v1/jobs/recordInfo":
            return self._poll(self.apikley, req.query.get("taskId", ""), req)
        if req.method == "GET" and req.path.startswith("/api/v1/tasks/"):
            return self._poll(self.modellix, unquote(req.path.removeprefix("/api/v1/tasks/")),
                              req)
        match = _FILE.fullmatch(req.path)
        if req.method == "GET" and match:
            return self._download(match[1], int(match[2]), req.query.get("r", ""))
        return json_reply(404, {"code": 404, "message": f"Not found: {req.method} {req.path}"})

    def _create(self, dialect: Dialect, req: Request) -> Reply:
        self._count("create_requests")
        refusal = self._gate(dialect, req, CREATE)
        if refusal:
            return refusal
        body = dialect.check(req.body)
        if isinstance(body, Reply):
            return body
        admitted = self._admit(dialect, body)
        if isinstance(admitted, Reply):
            return admitted
        task, fault = admitted
        if dialect is self.apikley and isinstance(body.get("callBackUrl"), str):
            self._callbacks.schedule(task)
        reply = dialect.created(task, req.base_url)
        if fault is Fault.DROP_AFTER_RECORD:
            return Reply(0, drop=True, note=fault)
        if fault is Fault.SLOW_RESPONSE:
            return replace(reply, delay=self.config.slow_seconds, note=fault)
        return replace(reply, note=fault) if fault else reply

    def _admit(self, dialect: Dialect, body: dict[str, Any]
               ) -> tuple[Task, Fault | Answer | None] | Reply:
        """Record a task, unless the rate limit or the credits refuse it."""
        config = self.config
        with self._lock:
            now = time.monotonic()
            retry_after = self._rate_retry_after(now)
            if retry_after is not None:
                self._counts.rejected_429 += 1
                return dialect.error(429, retry_after)
            if config.credits is not None and self._counts.creates >= config.credits:
                return dialect.error(402)
            fault = self._take(CREATE, before=False)
            fails = fault is Fault.GENERATION_FAILED or self._roll(config.fail_rate)
            task = new_task(dialect.id_prefix, dialect.provider, body,
                            dialect.image_count(body), started=now, latency=self._latency(),
                            fails=fails, empty=fault is Answer.NO_RESULT)
            self._tasks[task.id] = task
            if config.rate_limit is not None:
                self._window.append(now)
            self._counts.creates += 1
        return task, fault

    def _rate_retry_after(self, now: float) -> int | None:
        """Seconds until another create fits the rate window, or None if one fits now."""
        if self.config.rate_limit is None:
            return None
        count, window = self.config.rate_limit
        while self._window and self._window[0] <= now - window:
            self._window.popleft()
        if len(self._window) < count:
            return None
        return max(1, math.ceil(self._window[-count] + window - now))

    def _latency(self) -> float:
        median, sigma = self.config.latency, self.config.latency_spread
        if median <= 0 or sigma <= 0:
            return median
        return self._rng.lognormvariate(math.log(median), sigma)

    def _poll(self, dialect: Dialect, task_id: str, req: Request) -> Reply:
        self._count("polls")
        refusal = self._gate(dialect, req, POLL)
        if refusal:
            return refusal
        task = self._find(task_id, dialect)
        if task is None or task.provider != dialect.provider:
            return dialect.not_found(task_id)
        now = time.monotonic()
        if now - task.started < self.config.not_found_for:
            return dialect.unseen(task_id)
        reply = dialect.details(task, now, req.base_url)
        return self._slowed(reply, self._locked_take(POLL))

    def _download(self, task_id: str, index: int, token: str) -> Reply:
        self._count("downloads")
        fault = self._locked_take(DOWNLOAD, before=True)
        if fault:
            return self._plain_fault(fault)
        task = self._find(task_id)
        if task is None and token:  # an image of an earlier run whose id was not portable
            task = self._checked(described(task_id, token))
        if task is None or not task.succeeded(time.monotonic()) or not 1 <= index <= task.images:
            return Reply(404, b"Not Found", _TEXT)
        fault = self._locked_take(DOWNLOAD)
        if fault is Fault.DOWNLOAD_404:
            return Reply(404, b"Not Found", _TEXT, note=fault)
        png = render_png(self._dialects[task.provider].image_spec(task, index))
        reply = Reply(200, png, "image/png")
        if fault is Fault.DOWNLOAD_TRUNCATED:
            keep = self.config.download_truncate_bytes or len(png) // 2
            return replace(reply, truncate_to=min(keep, len(png) - 1), note=fault)
        return self._slowed(reply, fault)

    def _find(self, task_id: str, dialect: Dialect | None = None) -> Task | None:
        """A task this simulator made, or the one a portable id describes (made by any
        simulator, e.g. the one of an apply that was interrupted); ``dialect``: of that
        protocol only."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is not None:
            return task
        for each in [dialect] if dialect else self._dialects.values():
            if task_id.startswith(each.id_prefix):
                return self._checked(recall(each.id_prefix, each.provider, task_id))
        return None

    def _checked(self, task: Task | None) -> Task | None:
        """``task`` if it is one this simulator would have accepted (a task id or file URL
        comes back from a lockfile, which anyone may have edited), else None."""
        dialect = self._dialects.get(task.provider) if task else None
        if task is None or dialect is None:
            return None
        accepted = dialect.check(dumps(task.request).encode())
        if isinstance(accepted, Reply) or dialect.image_count(accepted) != task.images:
            return None
        return task

    def _gate(self, dialect: Dialect, req: Request, endpoint: str) -> Reply | None:
        """Refuse a request that is unauthenticated or gets a fault served instead of an answer."""
        token = req.authorization.removeprefix("Bearer ").strip()
        key = self.config.api_key
        if not req.authorization.startswith("Bearer ") or not token or key not in (None, token):
            return dialect.error(401)
        fault = self._locked_take(endpoint, before=True)
        if fault is Fault.HTTP_429:
            self._count("rejected_429")
            return replace(dialect.error(429, self.config.fault_retry_after), note=fault)
        if fault in (Fault.HTTP_500, Fault.HTTP_503):
            return replace(dialect.error(500 if fault is Fault.HTTP_500 else 503), note=fault)
        if fault is Answer.UNAUTHORIZED:
            return replace(dialect.error(401), note=fault)
        if fault is Answer.INVALID_PARAMETER:
            return replace(dialect.refusal(), note=fault)
        return Reply(0, drop=True, note=fault) if fault else None

    def _plain_fault(self, fault: Fault | Answer) -> Reply:
        """A fault served by the file host (no provider envelope)."""
        if fault is Fault.HTTP_500:
            return Reply(500, b"Internal Server Error", _TEXT, note=fault)
        if fault is Fault.HTTP_503:
            return Reply(503, b"Service Unavailable", _TEXT, note=fault)
        return Reply(0, drop=True, note=fault)

    def _slowed(self, reply: Reply, fault: Fault | Answer | None) -> Reply:
        if fault is Fault.SLOW_RESPONSE:
            return replace(reply, delay=self.config.slow_seconds, note=fault)
        return reply

    def _locked_take(self, endpoint: str, before: bool = False) -> Fault | Answer | None:
        with self._lock:
            return self._take(endpoint, before)

    def _take(self, endpoint: str, before: bool) -> Fault | Answer | None:
        """The fault or answer to serve at ``endpoint`` now (injected first, then faults by
        rate); lock held.

        ``before`` selects those served instead of handling the request, else those served on
        top of a successful answer.
        """
        kinds = [f for f in ENDPOINTS if endpoint in ENDPOINTS[f] and (f in BEFORE) == before]
        fault = self._take_injected(endpoint, kinds)
        if fault is None:
            rates = self.config.fault_rates
            fault = next((f for f in kinds if isinstance(f, Fault)
                          and self._roll(rates.get(f, 0.0))), None)
        if isinstance(fault, Fault):
            self._counts.faults[fault] += 1
        elif fault is not None:
            self._counts.answers[fault] += 1
        return fault

    def _roll(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def _take_injected(self, endpoint: str, kinds: list[Fault | Answer]
                       ) -> Fault | Answer | None:
        for injection in self._injections:
            if injection.endpoint == endpoint and injection.fault in kinds:
                injection.times -= 1
                if injection.times == 0:
                    self._injections.remove(injection)
                return injection.fault
        return None

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self._counts, name, getattr(self._counts, name) + 1)

    def _deliver(self, task: Task) -> None:
        """Send ``task``'s Apikley callback (runs on the callback pool)."""
        url = task.request["callBackUrl"]
        body = self.apikley.callback(task, time.monotonic(), self.base_url)
        ok = callbacks.post(url, body, task.id, self.config.callback_secret,
                            self.config.callback_timeout)
        self._count("callbacks_sent" if ok else "callbacks_failed")
