"""Provider errors: one hierarchy, and the translation of HTTP answers into it.

Every failure a provider client raises is one of the classes below (each a
:class:`~seedflow.errors.SeedflowError`, so the CLI prints its message). Lower-level exceptions
are translated here, at the boundary, and chained (``raise X(...) from exc``)::

    ProviderError           base: .provider, .http_status, .code (body code), .provider_message
    ├── RetryLater          Transient. Wait ``.retry_after`` seconds when set (else back off) and
    │                       make the same call again. From ``submit`` it means the provider
    │                       certainly created nothing: it answered 429, 433 (sub-key over its
    │                       limit) or 455 (maintenance), or the connection was never
    │                       established. From ``fetch`` it also covers 5xx, every transport
    │                       error and any answer seedflow cannot read (a status read is free
    │                       and idempotent).
    ├── RequestRejected     The provider refused this request (400, 422, 404 on create, 505
    │                       feature disabled, any other 4xx, a redirect, and a provider's own
    │                       validation refusals such as kie's code 500 "image_size is not within
    │                       the range of allowed options"). Fix the request: resending it
    │                       unchanged fails again. Other combinations go on.
    ├── StopAll             The account cannot create tasks: start no new task on this provider.
    │   │                   Tasks already created may still be polled.
    │   ├── AuthFailed      401/403: the key is missing, wrong or revoked.
    │   └── OutOfCredits    402: the balance is too low; top up.
    ├── GenerationFailed    Body code 501 on ``submit`` (Apikley: generation failed): no task to
    │                       follow. (On ``fetch``, 501 and 408 — the upstream model gave no
    │                       result in 10 minutes — come back as a ``TaskState`` with status
    │                       FAILED and the provider's failCode/failMsg, as a task that fails
    │                       normally does.) Creating it again is a new paid task.
    ├── Ambiguous           Only from ``submit``: the create may have reached the provider, so a
    │                       task may exist and be billed although no task id came back: a
    │                       dropped connection, a 5xx, an answer seedflow cannot read. Record
    │                       the combination as uncertain, never retry it automatically.
    └── TaskNotFound        Only from ``fetch``: the provider has no such task (404, or
                            Apikley's 422 "recordInfo is null"), or the id is too long for any
                            URL (httpx.InvalidURL; ``may_appear`` is then False). Just after a
                            create this can be lag: the executor keeps polling for a grace
                            period after ``submitted_at``, then reports the task lost rather
                            than paying for a new one silently.

Transport errors (``httpx.TransportError``), by when they can happen:

* ``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``ProxyError``, ``UnsupportedProtocol``:
  no byte of the request reached the provider (the TCP/TLS connection was never made, no pooled
  connection became free, the proxy refused the tunnel, the URL scheme is unusable) →
  ``RetryLater``, from ``submit`` too.
* Everything else (``ReadTimeout``, ``WriteTimeout``, ``ReadError``, ``WriteError``,
  ``RemoteProtocolError`` such as a dropped connection, ...): the request was at least partly
  written, and the provider may have received all of it → ``Ambiguous`` from ``submit``,
  ``RetryLater`` from ``fetch``. A connection dropped *before* the provider recorded the task
  looks exactly like one dropped after it did, so both are Ambiguous. A body seedflow cannot
  read after a 2xx create, and code 408 on create, are ``Ambiguous`` for the same reason.

A 5xx answer to a create (500, 502, 503, 504, ...) is ``Ambiguous``: the server failed *while*
handling the request, and nothing in the answer says whether the task had been recorded by
then. Modellix's official CLI treats every answer to a paid POST other than a definite
rejection (400/401/402/403/404/405/413/415/422/429) as "outcome unknown" and never re-sends it;
seedflow follows it (docs/providers.md gives the reasoning, and Apikley's codes).

Which body code wins: both providers put a ``code`` in the JSON body, and Apikley can answer
HTTP 200 with an error ``code``. A body code other than the success code (Apikley 200,
Modellix 0) is what the answer means; the HTTP status is used when the body has no code (or
claims success on a non-2xx status). What a code means is each provider's table
(``error_class`` in its ``client.py``); :func:`error_class` here is the part they share: HTTP's
meanings plus kie.ai's documented codes; other 3xx/4xx codes are RequestRejected, other 5xx
Ambiguous on create and RetryLater on a read, anything else an answer seedflow cannot read.

``retry_after`` comes from ``Retry-After`` (delay-seconds or an HTTP-date, RFC 9110) or, failing
that, ``X-RateLimit-Reset``: a value of at least 10^9 is a Unix time in seconds (10^9 seconds as
a delay would be 31 years), anything smaller a delay in seconds. Times in the past give 0.

Secrets: messages name the provider, the HTTP status, the body code and the provider's message
(quoted, escaped, at most 300 characters), and say what to do. They never contain the API key:
request headers are never rendered, and every text a provider sends passes :meth:`Boundary.
redact` here, once, before anything else sees it: error messages, unreadable values quoted in a
detail, and a task's failure code and message (``TaskState.error_code``/``error_message``, which
end up in the lock's ``error`` field and in apply's output). A task id or a result URL that
carries the key cannot be redacted without breaking it, so such an answer is one seedflow
cannot read.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC
from typing import Any, ClassVar, Protocol

import httpx

from seedflow.errors import SeedflowError
from seedflow.providers.base import TaskState, TaskStatus

__all__ = [
    "Ambiguous", "AuthFailed", "Boundary", "Classify", "GenerationFailed", "OutOfCredits",
    "ProviderError", "RequestRejected", "RetryLater", "StopAll", "TaskNotFound", "check_api_key",
    "error_class", "parse_retry_after", "shared_table",
]

EPOCH_THRESHOLD = 1e9
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
                 httpx.UnsupportedProtocol)
_MESSAGE_LIMIT = 300
_MIN_KEY = 8


class ProviderError(SeedflowError):
    """A provider call failed; see the module docstring for what each subclass means."""

    hint: ClassVar[str] = "see the provider's message"

    def __init__(self, message: str, *, provider: str, http_status: int | None = None,
                 code: int | None = None, provider_message: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.http_status = http_status
        self.code = code
        self.provider_message = provider_message


class RetryLater(ProviderError):
    """Transient: the same call may succeed later (after ``retry_after`` seconds when known)."""

    hint = "temporary; retry later"

    def __init__(self, message: str, *, provider: str, http_status: int | None = None,
                 code: int | None = None, provider_message: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider, http_status=http_status, code=code,
                         provider_message=provider_message)
        self.retry_after = retry_after


class RequestRejected(ProviderError):
    """The provider refused the request itself: fix it before sending it again."""

    hint = "fix the request; sending it unchanged fails again"


class StopAll(ProviderError):
    """The account cannot create tasks: start no new task on this provider."""


class AuthFailed(StopAll):
    """The API key is missing, wrong or revoked."""

    hint = "check {key_env}"


class OutOfCredits(StopAll):
    """The account's balance is too low for another task."""

    hint = "top up credits with {provider}; no new tasks are started"


class GenerationFailed(ProviderError):
    """The task ended without images; creating it again is a new paid task."""

    hint = "the task produced no image; running apply again creates (and pays for) a new task"


class Ambiguous(ProviderError):
    """The create may have reached the provider although no task id came back."""

    hint = ("a task may exist and be billed, so this combination is recorded as uncertain and "
            "not retried automatically; check {provider}'s task history before retrying it")


class TaskNotFound(ProviderError):
    """The provider has no record of the task id."""

    hint = ("{provider} has no such task: a wrong or expired id, or one created a moment ago "
            "that is not visible yet")
    may_appear: bool = True
    """False when the id can never be found (no URL can hold it); True when the task may yet
    appear (the provider's lag just after a create)."""


_CODE_HINTS = {
    408: "the upstream model gave no result within 10 minutes",
    433: "the sub-key's usage limit is reached; retry later or raise the limit",
    455: "{provider} is under maintenance; retry later",
    505: "the feature is disabled at {provider}; this request cannot succeed until it is back",
}


class Classify(Protocol):
    """A provider's table: the error its (body or HTTP) ``code`` means, given its ``message``
    (redacted), for a create or a status read."""

    def __call__(self, code: int, message: str | None, *,
                 creating: bool) -> type[ProviderError]: ...


def error_class(code: int, *, creating: bool) -> type[ProviderError]:
    """The shared table: the error a (body or HTTP) ``code`` means, for a create or a read.

    HTTP's meanings plus kie.ai's documented codes (401, 402, 404, 408, 422, 429, 433, 455, 500,
    501, 505; docs.kie.ai "common error codes"). Each provider's ``error_class`` builds on it.
    """
    if code in (401, 403):
        return AuthFailed
    if code == 402:
        return OutOfCredits
    if code in (404, 422) and not creating:
        return TaskNotFound
    if code == 408:
        return Ambiguous if creating else GenerationFailed
    if code == 501:
        return GenerationFailed
    if code == 505:
        return RequestRejected
    if code in (429, 433, 455):
        return RetryLater
    if 500 <= code < 600:
        return Ambiguous if creating else RetryLater
    if 300 <= code < 500:
        return RequestRejected
    return Ambiguous if creating else RetryLater


def shared_table(code: int, message: str | None, *, creating: bool) -> type[ProviderError]:
    """:func:`error_class` as a :class:`Classify` (the message does not matter)."""
    return error_class(code, creating=creating)


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` or else ``X-RateLimit-Reset``; None if neither."""
    clock = time.time() if now is None else now
    value = _retry_after(headers.get("retry-after", ""), clock)
    return value if value is not None else _ratelimit_reset(headers.get("x-ratelimit-reset", ""),
                                                             clock)


def _retry_after(raw: str, now: float) -> float | None:
    seconds = _finite(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _ratelimit_reset(raw: str, now: float) -> float | None:
    value = _finite(raw)
    if value is None:
        return None
    return max(0.0, value - now if value >= EPOCH_THRESHOLD else value)


def _finite(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_api_key(api_key: str, *, key_env: str) -> None:
    """Refuse a key that cannot go in an HTTP header (it would otherwise surface, unredacted, in
    a low-level protocol error): whitespace, control or non-ASCII characters."""
    if not all(" " < char < "\x7f" for char in api_key):
        raise SeedflowError(f"{key_env} contains whitespace, control or non-ASCII characters; "
                            "set it to the key exactly as the provider shows it")


Failure = Callable[[Mapping[str, Any]], tuple[str | None, str | None]]
"""Reads the failure code and message a task record carries, whatever its state."""


class Boundary:
    """Translates one provider client's HTTP exchanges into data or a :class:`ProviderError`.

    ``ok_code`` is the provider's success body code; ``key_env`` names the variable holding the
    key (for the 401 hint); ``secret`` is redacted from every text the provider sends;
    ``classify`` is the provider's table of codes (:class:`Classify`).
    """

    def __init__(self, provider: str, *, ok_code: int, key_env: str, secret: str,
                 classify: Classify = shared_table) -> None:
        self.provider = provider
        self._ok_code = ok_code
        self._key_env = key_env
        self._secret = secret
        self._classify = classify

    def __repr__(self) -> str:
        return f"Boundary(provider={self.provider!r})"

    @contextmanager
    def sending(self, action: str, *, creating: bool) -> Iterator[None]:
        """Translate transport errors raised inside the block (see the module docstring)."""
        try:
            yield
        except httpx.TransportError as exc:
            raise self._transport_error(exc, action, creating=creating) from exc

    def data(self, response: httpx.Response, action: str, *, creating: bool) -> dict[str, Any]:
        """The ``data`` object of a successful answer; raise the error any other answer means."""
        payload = _json_object(response)
        code = _body_code(payload)
        if response.is_success and code == self._ok_code:
            data = payload.get("data") if payload else None
            if isinstance(data, dict):
                return data
            raise self.unreadable(response, action, "no `data` object", creating=creating)
        if code is None or code == self._ok_code:
            if response.is_success:
                raise self.unreadable(response, action, "no body code", creating=creating)
            code = response.status_code
        raise self._error(response, action, code, _provider_message(payload), creating=creating)

    async def create(self, send: Callable[[], Awaitable[httpx.Response]], id_key: str) -> str:
        """Send a create and return ``data[id_key]``, the new task's id."""
        action = "creating a task"
        with self.sending(action, creating=True):
            response = await send()
        task_id = self.data(response, action, creating=True).get(id_key)
        if not isinstance(task_id, str) or not task_id:
            raise self.unreadable(response, action, f"no data.{id_key}", creating=True)
        if self._carries_secret(task_id):
            raise self.unreadable(response, action, f"data.{id_key} carries the API key",
                                  creating=True)
        return task_id

    async def read(self, task_id: str, send: Callable[[], Awaitable[httpx.Response]],
                   convert: Callable[[Mapping[str, Any]], TaskState],
                   failure: Failure | None = None) -> TaskState:
        """Send a status read and convert its ``data`` (a ValueError: an unreadable answer).

        An answer whose code says the generation failed (Apikley 501, or 408: no result in
        10 minutes) is a FAILED state: ``failure`` reads the record's own code and message
        (kie's failCode/failMsg), else the body code and ``msg`` are the reason.
        """
        action = f"reading task {task_id}"
        try:
            with self.sending(action, creating=False):
                response = await send()
        except httpx.InvalidURL as exc:  # an id no URL can hold: a lockfile edited by hand
            lost = _make(TaskNotFound, f"{self.provider}: reading task {task_id[:60]}… "
                         f"({len(task_id)} characters) failed: {exc}; "
                         f"{self._hint(TaskNotFound, None)}", provider=self.provider)
            assert isinstance(lost, TaskNotFound)
            lost.may_appear = False
            raise lost from exc
        try:
            data = self.data(response, action, creating=False)
        except GenerationFailed as exc:
            return self._failed(exc, response, failure)
        try:
            state = convert(data)
        except ValueError as exc:  # not chained: its text quotes the provider, unredacted
            raise self.unreadable(response, action, str(exc), creating=False) from None
        if any(self._carries_secret(url) for url in state.image_urls):
            raise self.unreadable(response, action, "a result URL carries the API key",
                                  creating=False)
        return replace(state, error_code=self.redact(state.error_code),
                       error_message=self.redact(state.error_message))

    def _failed(self, exc: GenerationFailed, response: httpx.Response,
                failure: Failure | None) -> TaskState:
        """The FAILED state an error code on a read means, with the provider's reason."""
        payload = _json_object(response)
        record = payload.get("data") if payload else None
        code, message = failure(record) if failure and isinstance(record, dict) else (None, None)
        hint = _CODE_HINTS.get(exc.code or 0, "the generation failed")
        said = self.redact(message) or exc.provider_message or hint.format(provider=self.provider)
        return TaskState(TaskStatus.FAILED, error_code=self.redact(code) or str(exc.code),
                         error_message=said)

    def unreadable(self, response: httpx.Response, action: str, detail: str, *,
                   creating: bool) -> ProviderError:
        """An answer seedflow cannot read: Ambiguous for a create, RetryLater for a read."""
        cls: type[ProviderError] = Ambiguous if creating else RetryLater
        text = (f"{self.provider}: {action}: HTTP {response.status_code} with a body seedflow "
                f"cannot read ({self.redact(detail)}); {self._hint(cls, None)}")
        return _make(cls, text, provider=self.provider, http_status=response.status_code,
                     retry_after=parse_retry_after(response.headers))

    def _error(self, response: httpx.Response, action: str, code: int,
               provider_message: str | None, *, creating: bool) -> ProviderError:
        said = self.redact(provider_message)
        cls = self._classify(code, said, creating=creating)
        retry_after = parse_retry_after(response.headers)
        detail = f"HTTP {response.status_code}"
        detail += f", code {code}" if code != response.status_code else ""
        detail += f": {json.dumps(said, ensure_ascii=False)}" if said else ""
        wait = f" (the provider asks to wait {retry_after:g}s)" if retry_after is not None else ""
        hint = self._hint(cls, code)
        if cls is Ambiguous and code not in _CODE_HINTS:
            hint = f"the answer does not say whether the task was created; {hint}"
        text = (f"{self.provider}: {action} failed ({detail}); {hint}"
                f"{wait if cls is RetryLater else ''}")
        return _make(cls, text, provider=self.provider, http_status=response.status_code,
                     code=code, provider_message=said, retry_after=retry_after)

    def _transport_error(self, exc: httpx.TransportError, action: str, *,
                         creating: bool) -> ProviderError:
        sent = not isinstance(exc, _NOTHING_SENT)
        cls: type[ProviderError] = Ambiguous if creating and sent else RetryLater
        when = "after the request was sent" if sent else "before anything was sent"
        reason = self.redact(str(exc)) or "no detail"
        text = (f"{self.provider}: {action}: {type(exc).__name__} ({reason}) {when}; "
                f"{self._hint(cls, None)}")
        return _make(cls, text, provider=self.provider)

    def _hint(self, cls: type[ProviderError], code: int | None) -> str:
        """What happened (for codes that say more than their class) and what to do next."""
        specific = _CODE_HINTS.get(code) if code is not None else None
        if specific is None:
            hint = cls.hint
        elif cls in (RetryLater, RequestRejected):
            hint = specific
        else:
            hint = f"{specific}; {cls.hint}"
        return hint.format(provider=self.provider, key_env=self._key_env)

    def redact(self, text: str | None) -> str | None:
        """Provider text made safe to show and record: the key removed (keys shorter than 8
        characters are not real keys, and redacting them would garble words), the length
        capped. Every text a provider sends passes here before anything else sees it."""
        if not text:
            return text
        secret = self._secret
        clean = text.replace(secret, "[REDACTED]") if len(secret) >= _MIN_KEY else text
        return clean if len(clean) <= _MESSAGE_LIMIT else clean[:_MESSAGE_LIMIT] + "…"

    def _carries_secret(self, text: str) -> bool:
        return len(self._secret) >= _MIN_KEY and self._secret in text


def _make(cls: type[ProviderError], message: str, *, provider: str,
          http_status: int | None = None, code: int | None = None,
          provider_message: str | None = None, retry_after: float | None = None
          ) -> ProviderError:
    if cls is RetryLater:
        return RetryLater(message, provider=provider, http_status=http_status, code=code,
                          provider_message=provider_message, retry_after=retry_after)
    return cls(message, provider=provider, http_status=http_status, code=code,
               provider_message=provider_message)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _body_code(payload: dict[str, Any] | None) -> int | None:
    code = payload.get("code") if payload else None
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _provider_message(payload: dict[str, Any] | None) -> str | None:
    """The provider's own words: ``msg`` (kie.ai) or ``message`` (Apikley's page, Modellix)."""
    for key in ("msg", "message"):
        value = payload.get(key) if payload else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
