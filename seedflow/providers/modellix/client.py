"""The Modellix client: Seedream 4.0 text-to-image tasks and their results over httpx.

Wire protocol (``provider-docs/``): ``POST /api/v1/bytedance/seedream-4.0-t2i`` with the native
body answers ``{"code": 0, "message": "success", "data": {"task_id": ..., "status": "pending"}}``;
``GET /api/v1/tasks/{task_id}`` answers ``data.status`` (:data:`STATUSES`) and, on success,
the images in ``data.result.resources[].url``. Errors are ``{"code": <HTTP status>, "message":
"..."}`` (:func:`error_class`).

Where the documentation is thin, Modellix's own clients say what the service sends: its official
CLI (github.com/Modellix/modellix-cli: ``src/lib/task.ts``, ``src/lib/modellix-client.ts`` and
the fixtures of ``test/commands/task/wait.test.ts``) and plugin
(github.com/Modellix/modellix-plugin: ``skills/modellix/references/rest-playbook.md``). Each
value below names its source; docs/providers.md has the same tables.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from seedflow.providers import bounded
from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus, reported_seconds
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    Boundary,
    OutOfCredits,
    ProviderError,
    RequestRejected,
    RetryLater,
    TaskNotFound,
    check_api_key,
)

KEY_ENV = "MODELLIX_API_KEY"
CREATE_PATH = "/api/v1/bytedance/seedream-4.0-t2i"
TASK_PATH = "/api/v1/tasks/"

DEFAULT_LIMITS = ProviderLimits(create_rate=None, concurrency=10, first_poll=3.0, max_poll=30.0)
"""Modellix publishes no numeric rate limit: creates are not paced, a 429's ``Retry-After`` /
``X-RateLimit-Reset`` is honoured instead. 429 also covers concurrency, hence a modest 10."""

STATUSES = {
    "pending": TaskStatus.PENDING,        # docs.modellix.ai (query-task-result); plugin
    "processing": TaskStatus.RUNNING,     # plugin rest-playbook.md, task-result.schema.json
    "running": TaskStatus.RUNNING,        # the CLI's own fixtures (task wait, model run/batch)
    "success": TaskStatus.SUCCEEDED,      # docs; CLI SUCCESS_TASK_STATUSES
    "succeeded": TaskStatus.SUCCEEDED,    # CLI SUCCESS_TASK_STATUSES
    "completed": TaskStatus.SUCCEEDED,    # CLI SUCCESS_TASK_STATUSES
    "failed": TaskStatus.FAILED,          # docs; CLI FAILURE_TASK_STATUSES
    "error": TaskStatus.FAILED,           # CLI FAILURE_TASK_STATUSES
    "cancelled": TaskStatus.FAILED,       # CLI FAILURE_TASK_STATUSES
    "canceled": TaskStatus.FAILED,        # CLI FAILURE_TASK_STATUSES
}
"""``data.status`` (compared lower-cased, as the CLI does) → status. Any other value is read as
RUNNING, as the CLI's ``waitForTaskResults`` does: it polls every status outside its success
and failure sets until they end (never counted as an error, never re-created)."""

DEFINITE_REJECTIONS = frozenset({400, 401, 402, 403, 404, 405, 413, 415, 422, 429})
"""The answers to a create that certainly created nothing: the CLI's
``isDefinitelyRejectedSubmission``. Every other answer to a paid POST (5xx, 408, other codes)
is "outcome unknown" there (``PaidSubmissionOutcomeUnknownError``, never re-sent), and
Ambiguous here, although Modellix's docs call 500 and 503 retryable."""

log = logging.getLogger(__name__)


class ModellixClient:
    """Creates Seedream 4.0 tasks on Modellix and reads their state; owns the injected ``http``."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, api_key: str,
                 limits: ProviderLimits | None = None, name: str = "modellix") -> None:
        check_api_key(api_key, key_env=KEY_ENV)
        self.name = name
        self.limits = limits or DEFAULT_LIMITS
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._boundary = Boundary(name, ok_code=0, key_env=KEY_ENV, secret=api_key,
                                  classify=error_class)

    def __repr__(self) -> str:
        return f"ModellixClient(name={self.name!r}, base_url={self._base_url!r})"

    async def submit(self, request: dict[str, Any]) -> str:
        """Create a task from a native Seedream 4.0 body; return ``data.task_id``."""
        task_id = await self._boundary.create(
            lambda: bounded.request(self._http, "POST", self._base_url + CREATE_PATH,
                                    json=request, headers=self._headers), "task_id")
        log.debug("%s: created task %s", self.name, task_id)
        return task_id

    async def fetch(self, task_id: str) -> TaskState:
        """Read a task's result and convert it (see :func:`task_state`)."""
        state = await self._boundary.read(
            task_id, lambda: bounded.request(self._http, "GET", self._base_url + TASK_PATH
                                             + quote(task_id, safe=""), headers=self._headers),
            task_state, _failure)
        log.debug("%s: task %s is %s", self.name, task_id, state.status.value)
        return state

    async def aclose(self) -> None:
        """Close the injected HTTP client."""
        await self._http.aclose()


def error_class(code: int, message: str | None, *, creating: bool) -> type[ProviderError]:
    """What a Modellix (body or HTTP) code means.

    A create: the :data:`DEFINITE_REJECTIONS` are what they say (401/403 bad key, 402 no
    balance, 429 rate or concurrency limit: retry later, the rest: fix the request); anything
    else may have created a task (Ambiguous). A read (free, idempotent): 401/403, 402, 404 task
    not found, 408, 429 and 5xx retry later (the plugin's retryable reads), other 3xx/4xx
    RequestRejected.
    """
    if creating and code not in DEFINITE_REJECTIONS:
        return Ambiguous
    if code in (401, 403):
        return AuthFailed
    if code == 402:
        return OutOfCredits
    if code == 404 and not creating:
        return TaskNotFound
    if code in (408, 429) or not 300 <= code < 500:
        return RetryLater
    return RequestRejected


def task_state(data: Mapping[str, Any]) -> TaskState:
    """Convert a task result's ``data`` into a TaskState (see :data:`STATUSES`).

    ``success`` with no resource (``result`` null, ``resources`` empty) is SUCCEEDED with no
    images: the task is over and nothing can be downloaded (apply records it failed). Raises
    ValueError, saying what is wrong, for no ``status`` or resources without a URL.
    """
    raw = data.get("status")
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"no status ({raw!r})")
    status = STATUSES.get(raw.strip().lower(), TaskStatus.RUNNING)
    if status is TaskStatus.FAILED:
        code, message = _failure(data)
        return TaskState(status, error_code=code, error_message=message)
    if status is not TaskStatus.SUCCEEDED:
        return TaskState(status)
    result = data.get("result")
    resources = result.get("resources") if isinstance(result, dict) else None
    if not resources:
        return TaskState(status)
    urls = tuple(r["url"] for r in resources if isinstance(r, dict)
                 and isinstance(r.get("url"), str) and r["url"]) \
        if isinstance(resources, list) else ()
    if not urls:
        raise ValueError("result.resources[] holds no url")
    return TaskState(status, image_urls=urls, took=generation_time(data))


def generation_time(data: Mapping[str, Any]) -> float | None:
    """How long the task took, in seconds, as the result reports it (None if it does not):
    ``duration`` in milliseconds (the documented result has ``duration`` 3500 beside
    ``extensions`` times 10:00:00 → 10:00:03, FACTS.md), else ``result.extensions``
    ``end_time`` − ``submit_time`` (whole seconds). Anything unreadable is ignored."""
    took = reported_seconds(data.get("duration"), unit=0.001)
    if took is not None:
        return took
    result = data.get("result")
    extensions = result.get("extensions") if isinstance(result, dict) else None
    if not isinstance(extensions, dict):
        return None
    start, end = _moment(extensions.get("submit_time")), _moment(extensions.get("end_time"))
    return reported_seconds(end - start) if start is not None and end is not None else None


def _moment(value: Any) -> float | None:
    """An ISO 8601 time as unix seconds, or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


def _failure(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The failure's code and message. Modellix documents no failure fields: use an ``error``
    object's ``code``/``message`` or an ``error`` string when present, else the status itself."""
    error = data.get("error")
    status = _str_or_none(data.get("status"))
    if isinstance(error, dict):
        code = error.get("code")
        return (str(code) if code not in (None, "") else status,
                _str_or_none(error.get("message")))
    return status, _str_or_none(error)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
