"""What the protocol dialects and the simulator core share: tasks, replies, the dialect API."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import fastjsonschema

from seedflow.sim.images import ImageSpec


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept (as the providers send it)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """Sorted-key JSON text: equal requests give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_id_lock = threading.Lock()
_last_id = 0


def unique_number() -> int:
    """A process-wide strictly increasing number: microseconds since the epoch, bumped on ties."""
    global _last_id
    with _id_lock:
        _last_id = max(_last_id + 1, time.time_ns() // 1000)
        return _last_id


@dataclass(frozen=True)
class Task:
    """One accepted (paid) generation task."""

    id: str
    provider: str
    request: dict[str, Any]
    images: int
    created_ms: int
    """Wall clock at creation, unix milliseconds."""
    started: float
    """Monotonic clock at creation."""
    latency: float
    fails: bool

    def progress(self, now: float) -> float:
        """Elapsed fraction of the generation time (1.0 or more: finished)."""
        if self.latency <= 0:
            return math.inf
        return (now - self.started) / self.latency

    def succeeded(self, now: float) -> bool:
        """Finished with images to download."""
        return not self.fails and self.progress(now) >= 1.0

    def ms_at(self, fraction: float) -> int:
        """Wall clock, unix milliseconds, when ``fraction`` of the generation time had passed."""
        return self.created_ms + round(min(fraction, 1.0) * self.latency * 1000)

    def file_urls(self, base_url: str) -> list[str]:
        """Absolute URLs of the task's images, 1-based.

        Each carries what the image shows (``?r=``: provider, request, image count), so any
        simulator, including one started later on another port, serves the same bytes: a
        restore of a simulated image works as it does with a real provider's CDN.
        """
        token = describe(self)
        return [f"{base_url}/files/{self.id}/{n}.png?r={token}"
                for n in range(1, self.images + 1)]


def describe(task: Task) -> str:
    body = {k: v for k, v in task.request.items() if k != "callBackUrl"}
    data = json.dumps({"p": task.provider, "r": body, "n": task.images}, sort_keys=True,
                      separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")


def described(task_id: str, token: str) -> Task | None:
    """The finished task a file URL describes, or None if the token is not one of ours."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)),
                              bufsize=1 << 16)
        data = json.loads(raw)
        provider, request, images = data["p"], data["r"], int(data["n"])
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
    if not isinstance(request, dict) or not isinstance(provider, str) or not 1 <= images <= 15:
        return None
    return Task(id=task_id, provider=provider, request=request, images=images, created_ms=0,
                started=-math.inf, latency=0.0, fails=False)


def stage(progress: float, stages: tuple[tuple[float, str], ...], done: str) -> tuple[str, float]:
    """The state at ``progress`` and the fraction at which it began.

    ``stages`` lists (end fraction, state) in order; at 1.0 or more the state is ``done``.
    """
    begin = 0.0
    for end, name in stages:
        if progress < end:
            return name, begin
        begin = end
    return done, 1.0


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, possibly misbehaving (dropped, delayed, truncated)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    delay: float = 0.0
    truncate_to: int | None = None
    note: str = ""
    """Shown in the request log (e.g. the body code, or the fault served)."""


def json_reply(status: int, body: dict[str, Any], *, retry_after: int | None = None) -> Reply:
    """A JSON reply; ``retry_after`` adds a Retry-After header."""
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    code = body.get("code")
    return Reply(status, dumps(body).encode(), headers=headers,
                 note=f"body code {code}" if code not in (status, 0) else "")


def parse_object(raw: bytes) -> dict[str, Any] | str:
    """The JSON object in ``raw``, or what is wrong with it."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"the request body is not valid JSON ({exc})"
    return value if isinstance(value, dict) else "the request body must be a JSON object"


def schema_problem(provider: str, body: dict[str, Any]) -> str | None:
    """What is wrong with ``body`` per the provider's request schema, or None."""
    try:
        _validator(provider)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        message = str(exc.message)
        return message[5:] if message.startswith("data.") else "the body" + message[4:]
    return None


@cache
def _validator(provider: str) -> Callable[[Any], Any]:
    from seedflow.providers.schemas import request_schema

    schema = {k: v for k, v in request_schema(provider).items() if k not in ("$schema", "$id")}
    validate: Callable[[Any], Any] = fastjsonschema.compile(schema, use_default=False)
    return validate


class Dialect(Protocol):
    """One provider's wire protocol."""

    provider: str

    def error(self, status: int, retry_after: int | None = None) -> Reply:
        """An error answer for HTTP ``status`` (401, 402, 429, 500 or 503)."""

    def check(self, raw: bytes) -> dict[str, Any] | Reply:
        """The create body, or the refusal of an invalid one."""

    def image_count(self, body: dict[str, Any]) -> int:
        """How many images a task created with ``body`` produces."""

    def new_id(self) -> str:
        """A fresh, unique task id."""

    def created(self, task: Task, base_url: str) -> Reply:
        """The answer to an accepted create."""

    def details(self, task: Task, now: float, base_url: str) -> Reply:
        """The answer to a poll of ``task``."""

    def not_found(self, task_id: str) -> Reply:
        """The answer to a poll of an unknown task."""

    def state(self, task: Task, now: float) -> str:
        """The task's state in this protocol's words."""

    def image_spec(self, task: Task, index: int) -> ImageSpec:
        """What image ``index`` (1-based) of ``task`` shows."""
