"""The Apikley (kie.ai API family) client: ``createTask`` and ``recordInfo`` over httpx.

Wire protocol (``provider-docs/``): ``POST /api/v1/jobs/createTask`` with the native body answers
``{"code": 200, "msg": "success", "data": {"taskId": ...}}``; ``GET
/api/v1/jobs/recordInfo?taskId=...`` answers the task record, whose ``state`` is ``waiting`` |
``queuing`` | ``generating`` | ``success`` | ``fail`` and whose ``resultJson`` is a JSON *string*
holding ``{"resultUrls": [...]}``. The same record arrives in callbacks
(:mod:`seedflow.providers.callback`), which is why :func:`task_state` is public.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus
from seedflow.providers.errors import Boundary, check_api_key

KEY_ENV = "APIKLEY_API_KEY"
CREATE_PATH = "/api/v1/jobs/createTask"
RECORD_PATH = "/api/v1/jobs/recordInfo"

DEFAULT_LIMITS = ProviderLimits(create_rate=(20, 10.0), concurrency=100, first_poll=3.0,
                                max_poll=30.0)
"""kie.ai's published limits: up to 20 new generation requests per 10 seconds per account and
100+ concurrent running tasks. Polling starts near a short generation's time (the docs advise
every 2-3 s at first) and backs off to the docs' 15-30 s after two minutes."""

_STATES = {
    "waiting": TaskStatus.PENDING,
    "queuing": TaskStatus.PENDING,
    "generating": TaskStatus.RUNNING,
    "success": TaskStatus.SUCCEEDED,
    "fail": TaskStatus.FAILED,
}

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
        self._boundary = Boundary(name, ok_code=200, key_env=KEY_ENV, secret=api_key)

    def __repr__(self) -> str:
        return f"ApikleyClient(name={self.name!r}, base_url={self._base_url!r})"

    async def submit(self, request: dict[str, Any]) -> str:
        """Create a task from a native ``createTask`` body (plus ``callBackUrl`` when set)."""
        body = {**request, "callBackUrl": self._callback_url} if self._callback_url else request
        task_id = await self._boundary.create(
            lambda: self._http.post(self._base_url + CREATE_PATH, json=body,
                                    headers=self._headers), "taskId")
        log.debug("%s: created task %s", self.name, task_id)
        return task_id

    async def fetch(self, task_id: str) -> TaskState:
        """Read a task's record and convert it (see :func:`task_state`)."""
        state = await self._boundary.read(
            task_id, lambda: self._http.get(self._base_url + RECORD_PATH,
                                            params={"taskId": task_id}, headers=self._headers),
            task_state)
        log.debug("%s: task %s is %s", self.name, task_id, state.status.value)
        return state

    async def aclose(self) -> None:
        """Close the injected HTTP client."""
        await self._http.aclose()


def task_state(record: Mapping[str, Any]) -> TaskState:
    """Convert a task record (``recordInfo``'s ``data``, or a callback's) into a TaskState.

    Raises ValueError, saying what is wrong, for a record that cannot be read: an unknown
    ``state``, or ``success`` without result URLs.
    """
    state = record.get("state")
    status = _STATES.get(state) if isinstance(state, str) else None
    if status is None:
        raise ValueError(f"unknown state {state!r}")
    if status is TaskStatus.FAILED:
        return TaskState(status, error_code=_text(record.get("failCode")),
                         error_message=_text(record.get("failMsg")))
    if status is not TaskStatus.SUCCEEDED:
        return TaskState(status)
    urls = _json_field(record.get("resultJson")).get("resultUrls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError("state success without resultJson.resultUrls")
    return TaskState(status, image_urls=tuple(urls))


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
