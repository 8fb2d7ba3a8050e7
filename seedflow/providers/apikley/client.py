"""The Apikley (kie.ai API family) client: ``createTask`` and ``recordInfo`` over httpx.

Wire protocol (``provider-docs/``): ``POST /api/v1/jobs/createTask`` with the native body answers
``{"code": 200, "msg": "success", "data": {"taskId": ...}}``; ``GET
/api/v1/jobs/recordInfo?taskId=...`` answers the task record, whose ``state`` is ``waiting`` |
``queuing`` | ``generating`` | ``success`` | ``fail`` and whose ``resultJson`` is a JSON *string*
holding ``{"resultUrls": [...]}``. The same record arrives in callbacks
(:mod:`seedflow.providers.callback`), which is why :func:`task_state` is public.

What the provider's words mean is written down here, each with its source (docs/providers.md
has the same tables): :data:`STATES` for a task's ``state``, :func:`error_class` for body codes,
:data:`PARAMETER_REFUSALS` for the validation messages kie sends with code 500.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from seedflow.providers import bounded, errors
from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus, reported_seconds
from seedflow.providers.errors import Boundary, ProviderError, RequestRejected, check_api_key

KEY_ENV = "APIKLEY_API_KEY"
CREATE_PATH = "/api/v1/jobs/createTask"
RECORD_PATH = "/api/v1/jobs/recordInfo"

DEFAULT_LIMITS = ProviderLimits(create_rate=(20, 10.0), concurrency=100, first_poll=3.0,
                                max_poll=30.0)
"""kie.ai's published limits: up to 20 new generation requests per 10 seconds per account and
100+ concurrent running tasks. Polling starts near a short generation's time (the docs advise
every 2-3 s at first) and backs off to the docs' 15-30 s after two minutes."""

STATES = {
    # docs.kie.ai/market/common/get-task-detail and docs.apikley.ru (same page): the five
    # values of `state`; FACTS.md.
    "waiting": TaskStatus.PENDING,
    "queuing": TaskStatus.PENDING,
    "generating": TaskStatus.RUNNING,
    "success": TaskStatus.SUCCEEDED,
    "fail": TaskStatus.FAILED,
}
"""``state`` → status. Any other value is read as RUNNING: the task exists and has not said it
ended, so it is polled on the normal schedule (never counted as an error, never re-created)."""

PARAMETER_REFUSALS = (
    # "image_size is not within the range of allowed options" (also resolution, aspect_ratio,
    # output_format, mode, duration, voice): reported from the live kie API by several
    # integrators, with body code 500 at HTTP 200 and at HTTP 500 (issue 12).
    re.compile(r"^(this )?[\w.\[\]]+ is not within the range of allowed options\.?$", re.I),
    # "This field is required": reported as a kie code-500 answer when a documented field is
    # left out.
    re.compile(r"^this field is required\.?$", re.I),
    # "The text length cannot exceed the maximum limit": kie code 500 for a prompt over a
    # model's maxLength (reported on seedream/4.5-edit).
    re.compile(r"^the text length cannot exceed the maximum limit\.?$", re.I),
)
"""kie's parameter validator answers some refusals with body code 500, not 422. A 500 whose
whole message is one of these is a refused request (RequestRejected: fix it); any other 500 is
a server error after the create was received (Ambiguous). Whole-message matches only: taking a
server error for a refusal would drop the intent of a task that may exist (a later apply would
pay twice), while missing a refusal only records it as uncertain."""

log = logging.getLogger(__name__)


class ApikleyClient:
    """Creates Seedream tasks on Apikley and reads their state; owns the injected ``http``."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, api_key: str,
                 callback_url: str | None = None, limits: ProviderLimits | None = None,
                 name: str = "apikley") -> None:
        check_api_key(api_key, key_env=KEY_ENV)
        self.name = name
        self.limits = limits or DEFAULT_LIMITS
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._callback_url = callback_url
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._boundary = Boundary(name, ok_code=200, key_env=KEY_ENV, secret=api_key,
                                  classify=error_class)

    def __repr__(self) -> str:
        return f"ApikleyClient(name={self.name!r}, base_url={self._base_url!r})"

    async def submit(self, request: dict[str, Any]) -> str:
        """Create a task from a native ``createTask`` body (plus ``callBackUrl`` when set)."""
        body = {**request, "callBackUrl": self._callback_url} if self._callback_url else request
        task_id = await self._boundary.create(
            lambda: bounded.request(self._http, "POST", self._base_url + CREATE_PATH,
                                    json=body, headers=self._headers), "taskId")
        log.debug("%s: created task %s", self.name, task_id)
        return task_id

    async def fetch(self, task_id: str) -> TaskState:
        """Read a task's record and convert it (see :func:`task_state`)."""
        state = await self._boundary.read(
            task_id, lambda: bounded.request(self._http, "GET", self._base_url + RECORD_PATH,
                                             params={"taskId": task_id}, headers=self._headers),
            task_state, failure)
        log.debug("%s: task %s is %s", self.name, task_id, state.status.value)
        return state

    async def aclose(self) -> None:
        """Close the injected HTTP client."""
        await self._http.aclose()


def error_class(code: int, message: str | None, *, creating: bool) -> type[ProviderError]:
    """What an Apikley (body or HTTP) code means: the shared kie table
    (:func:`seedflow.providers.errors.error_class`: 500 and other 5xx on a create are
    Ambiguous, 455 maintenance and 429/433 limits RetryLater, 505 RequestRejected), except that
    a create answered with code 500 and one of :data:`PARAMETER_REFUSALS` was refused."""
    if creating and code == 500 and message and refuses_parameters(message):
        return RequestRejected
    return errors.error_class(code, creating=creating)


def refuses_parameters(message: str) -> bool:
    """Whether a code-500 ``msg`` is kie's parameter validator refusing the request."""
    return any(pattern.match(message.strip()) for pattern in PARAMETER_REFUSALS)


def task_state(record: Mapping[str, Any]) -> TaskState:
    """Convert a task record (``recordInfo``'s ``data``, or a callback's) into a TaskState.

    An unknown ``state`` word is RUNNING (keep polling). ``success`` with no result URL is
    SUCCEEDED with no images: the task is over, and nothing can be downloaded (apply records it
    failed). Raises ValueError, saying what is wrong, for a record that cannot be read: no
    ``state``, a ``resultJson`` that is not JSON, or result URLs that are not strings.
    """
    state = record.get("state")
    if not isinstance(state, str) or not state.strip():
        raise ValueError(f"no state ({state!r})")
    status = STATES.get(state.strip().lower(), TaskStatus.RUNNING)
    if status is TaskStatus.FAILED:
        code, message = failure(record)
        return TaskState(status, error_code=code, error_message=message)
    if status is not TaskStatus.SUCCEEDED:
        return TaskState(status)
    urls = _json_field(record.get("resultJson")).get("resultUrls")
    if urls is None or urls == []:
        return TaskState(status)
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise ValueError("resultJson.resultUrls is not a list of URLs")
    return TaskState(status, image_urls=tuple(urls), took=generation_time(record))


def generation_time(record: Mapping[str, Any]) -> float | None:
    """How long the task took, in seconds, as the record reports it (None if it does not).

    ``completeTime`` − ``createTime`` (unix milliseconds) is the wait a create sees, queue
    included, so it is preferred; ``costTime`` (milliseconds: the documented record has
    ``costTime`` 15000 within a 32,000 ms create-to-complete span, FACTS.md) may leave the
    queue out. Any value that is missing, not a number or not believable is ignored.
    """
    created, completed = _number(record.get("createTime")), _number(record.get("completeTime"))
    if created is not None and completed is not None:
        span = reported_seconds(completed - created, unit=0.001)
        if span is not None:
            return span
    return reported_seconds(record.get("costTime"), unit=0.001)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:   # an int too large for a float
        return None


def failure(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A record's ``failCode`` and ``failMsg`` (None when empty or missing)."""
    return _text(record.get("failCode")), _text(record.get("failMsg"))


def _json_field(value: Any) -> dict[str, Any]:
    """A field documented as a JSON string; tolerates "", null and an already-decoded object."""
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"resultJson is not JSON: {exc}") from exc
    return decoded if isinstance(decoded, dict) else {}


def _text(value: Any) -> str | None:
    """A failure code or message as text; empty and missing become None."""
    return str(value) if value not in (None, "") else None
