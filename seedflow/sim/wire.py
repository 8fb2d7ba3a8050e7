"""What the protocol dialects and the simulator core share: tasks, replies, the dialect API."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
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


ID_MAX = 48 * 1024
"""The longest task id the simulator issues or reads (under the HTTP server's 64 KiB request
line, as a poll sends the id back in the URL)."""
MARK = "s1"
"""Follows the dialect's id prefix in a portable id; names the encoding (``_ZDICT`` included)."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_PAYLOAD_MAX = 1 << 18
"""Most bytes a token may inflate to (a request the schemas allow needs far less)."""
_ZDICT = (
    b'{"p":"modellix","r":{"prompt":"a photo of","size":"2048x2048",'
    b'"sequential_image_generation":"auto","sequential_image_generation_max_images":3,'
    b'"optimize_prompt_mode":"standard"},"n":1,"t":17,"l":1000,"f":true}'
    b'{"p":"apikley","r":{"model":"bytedance/seedream-v4-text-to-image","input":{"prompt":'
    b'"a photo of a ","image_size":"landscape_16_9","image_resolution":"2K","max_images":2,'
    b'"seed":1,"nsfw_checker":false}},"n":1,"t":17'
)
"""Text common to task descriptions, preset for compression (ids shrink by a third). Part of
the ``s1`` encoding: never change it; a new dictionary needs a new MARK."""


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
    portable: bool = False
    """The id describes the task (see :func:`new_task`): any simulator answers for it."""
    empty: bool = False
    """It ends ``success`` with no result URL (``Answer.NO_RESULT``)."""

    def progress(self, now: float) -> float:
        """Elapsed fraction of the generation time (1.0 or more: finished)."""
        if self.latency <= 0:
            return math.inf
        return (now - self.started) / self.latency

    def succeeded(self, now: float) -> bool:
        """Finished with images to download."""
        return not self.fails and not self.empty and self.progress(now) >= 1.0

    def ms_at(self, fraction: float) -> int:
        """Wall clock, unix milliseconds, when ``fraction`` of the generation time had passed."""
        return self.created_ms + round(min(fraction, 1.0) * self.latency * 1000)

    def file_urls(self, base_url: str) -> list[str]:
        """Absolute URLs of the task's images, 1-based.

        Each names (or, for a task whose id is not portable, carries in ``?r=``) what the image
        shows, so any simulator, including one started later on another port, serves the same
        bytes: a restore of a simulated image works as it does with a real provider's CDN.
        """
        query = "" if self.portable else f"?r={describe(self)}"
        return [f"{base_url}/files/{self.id}/{n}.png{query}" for n in range(1, self.images + 1)]


def new_task(prefix: str, provider: str, request: dict[str, Any], images: int, *,
             started: float, latency: float, fails: bool, empty: bool = False) -> Task:
    """A new task whose id describes it, so that it outlives the simulator that made it.

    The id is ``prefix`` + ``MARK`` + the compressed provider, request (without its
    ``callBackUrl``), image count, creation time, generation time and outcome (``"e"``, only
    when set: a success without result URLs); any simulator
    reads it back (:func:`recall`) and answers polls and downloads as the one that made it
    would. An id that would pass ``ID_MAX`` (no request the schemas allow does: a prompt of
    10,000 random characters makes about 40,000) is plain ``prefix`` + a number, known only to
    this simulator, as every id was before.
    """
    number = unique_number()
    latency_ms = round(latency * 1000)
    described = {"p": provider, "r": _without_callback(request), "n": images, "t": number,
                 "l": latency_ms, "f": fails}
    task_id = prefix + MARK + _pack(described | ({"e": True} if empty else {}), _ZDICT)
    portable = len(task_id) <= ID_MAX
    return Task(id=task_id if portable else f"{prefix}{number}", provider=provider,
                request=request, images=images, created_ms=number // 1000, started=started,
                latency=latency_ms / 1000, fails=fails, portable=portable, empty=empty)


def recall(prefix: str, provider: str, task_id: str) -> Task | None:
    """The task a portable id of ``provider`` describes, or None: an id that is too long, has
    characters an id cannot have, does not inflate, or says something no simulator would have
    made is not one of ours. The caller still checks the request against the protocol."""
    head = prefix + MARK
    if len(task_id) > ID_MAX or not task_id.startswith(head):
        return None
    data = _unpack(task_id[len(head):], _ZDICT)
    if data is None or data.get("p") != provider:
        return None
    fields: list[Any] = [data.get(k) for k in "rntlf"]
    request, images, number, latency_ms, fails = fields
    empty = data.get("e", False)
    now_ns = time.time_ns()
    if not (isinstance(request, dict) and _whole(images, 1, 15) and isinstance(fails, bool)
            and _whole(number, 0, now_ns // 1000 + 60_000_000)  # not made in the future
            and _whole(latency_ms, 0, 2**31) and isinstance(empty, bool)):
        return None
    created_ms = number // 1000
    started = time.monotonic() - (now_ns / 1e6 - created_ms) / 1000
    return Task(id=task_id, provider=provider, request=request, images=images,
                created_ms=created_ms, started=started, latency=latency_ms / 1000, fails=fails,
                portable=True, empty=empty)


def shown_id(prefix: str, task_id: str) -> str:
    """``task_id`` as an image shows it: a portable id is abbreviated to a digest."""
    if not task_id.startswith(prefix + MARK):
        return task_id
    return f"{prefix}{MARK}…{hashlib.sha256(task_id.encode()).hexdigest()[:12]}"


def describe(task: Task) -> str:
    """The ``?r=`` token of a task whose id is not portable: provider, request, image count."""
    body = _without_callback(task.request)
    data = json.dumps({"p": task.provider, "r": body, "n": task.images}, sort_keys=True,
                      separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")


def described(task_id: str, token: str) -> Task | None:
    """The finished task a file URL's ``?r=`` token describes, or None if the token is not one
    of ours. The caller still checks the request against the protocol."""
    data = _unpack(token, None)
    if data is None or len(task_id) > ID_MAX:
        return None
    fields: list[Any] = [data.get(k) for k in "prn"]
    provider, request, images = fields
    if not (isinstance(request, dict) and isinstance(provider, str) and _whole(images, 1, 15)):
        return None
    return Task(id=task_id, provider=provider, request=request, images=images, created_ms=0,
                started=-math.inf, latency=0.0, fails=False)


def _without_callback(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k != "callBackUrl"}


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _pack(value: dict[str, Any], zdict: bytes | None) -> str:
    data = dumps(value)  # keys in their order: a poll echoes the request as it was sent
    packer = zlib.compressobj(9, zdict=zdict) if zdict else zlib.compressobj(9)
    packed = packer.compress(data.encode()) + packer.flush()
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def _unpack(token: str, zdict: bytes | None) -> dict[str, Any] | None:
    """The JSON object a token holds; None for anything else, checked before decoding (length,
    alphabet) and while decoding (inflated size bounded, zlib's checksum, JSON)."""
    if len(token) > ID_MAX or not _TOKEN.fullmatch(token):
        return None
    try:
        packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        inflater = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
        data = inflater.decompress(packed, _PAYLOAD_MAX)
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            return None
        value = json.loads(data)
    except (ValueError, zlib.error, RecursionError):  # binascii.Error is a ValueError
        return None
    return value if isinstance(value, dict) else None


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


def echoed(reply: Reply, words: str) -> Reply:
    """``reply`` with ``words`` added to every non-empty text a provider writes for people: the
    body's ``msg``/``message``, a record's ``failMsg``/``failCode``, Modellix's ``error`` (its
    ``code`` and ``message``, or the string). Other replies are returned as they are."""
    try:
        body = json.loads(reply.body) if reply.content_type == "application/json" else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return reply
    _append(body, ("msg", "message"), words)
    data = body.get("data")
    if isinstance(data, dict):
        _append(data, ("failMsg", "failCode"), words)
        if isinstance(data.get("error"), dict):
            _append(data["error"], ("code", "message"), words)
        _append(data, ("error",), words)
    return replace(reply, body=dumps(body).encode())


def _append(holder: dict[str, Any], keys: tuple[str, ...], words: str) -> None:
    for key in keys:
        if isinstance(holder.get(key), str) and holder[key]:
            holder[key] = f"{holder[key]} ({words})"


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
    id_prefix: str
    """How this protocol's task ids begin (``new_task`` appends the rest)."""

    def error(self, status: int, retry_after: int | None = None) -> Reply:
        """An error answer for HTTP ``status`` (401, 402, 429, 500 or 503)."""

    def check(self, raw: bytes) -> dict[str, Any] | Reply:
        """The create body, or the refusal of an invalid one."""

    def image_count(self, body: dict[str, Any]) -> int:
        """How many images a task created with ``body`` produces."""

    def created(self, task: Task, base_url: str) -> Reply:
        """The answer to an accepted create."""

    def details(self, task: Task, now: float, base_url: str) -> Reply:
        """The answer to a poll of ``task``."""

    def not_found(self, task_id: str) -> Reply:
        """The answer to a poll of an unknown task."""

    def unseen(self, task_id: str) -> Reply:
        """The answer to a poll of a task just created, while the provider does not show it."""

    def refusal(self) -> Reply:
        """A refused parameter, in this provider's own shape (``Answer.INVALID_PARAMETER``)."""

    def state(self, task: Task, now: float) -> str:
        """The task's state in this protocol's words."""

    def image_spec(self, task: Task, index: int) -> ImageSpec:
        """What image ``index`` (1-based) of ``task`` shows."""
