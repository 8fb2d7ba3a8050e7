"""The Modellix client: Seedream 4.0 text-to-image tasks and their results over httpx.

Wire protocol (``provider-docs/``): ``POST /api/v1/bytedance/seedream-4.0-t2i`` with the native
body answers ``{"code": 0, "message": "success", "data": {"task_id": ..., "status": "pending"}}``;
``GET /api/v1/tasks/{task_id}`` answers ``data.status`` (``pending`` | ``processing`` |
``success`` | ``failed`` | ``cancelled``/``canceled``) and, on success, the images in
``data.result.resources[].url``. Errors are ``{"code": <HTTP status>, "message": "..."}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus
from seedflow.providers.errors import Boundary, check_api_key

KEY_ENV = "MODELLIX_API_KEY"
CREATE_PATH = "/api/v1/bytedance/seedream-4.0-t2i"
TASK_PATH = "/api/v1/tasks/"

DEFAULT_LIMITS = ProviderLimits(create_rate=None, concurrency=10, first_poll=3.0, max_poll=30.0)
"""Modellix publishes no numeric rate limit: creates are not paced, a 429's ``Retry-After`` /
``X-RateLimit-Reset`` is honoured instead. 429 also covers concurrency, hence a modest 10."""

_STATUSES = {
    "pending": TaskStatus.PENDING,
    "processing": TaskStatus.RUNNING,
    "success": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.FAILED,
    "canceled": TaskStatus.FAILED,
}

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
        self._boundary = Boundary(name, ok_code=0, key_env=KEY_ENV, secret=api_key)

    def __repr__(self) -> str:
        return f"ModellixClient(name={self.name!r}, base_url={self._base_url!r})"

    async def submit(self, request: dict[str, Any]) -> str:
        """Create a task from a native Seedream 4.0 body; return ``data.task_id``."""
        task_id = await self._boundary.create(
            lambda: self._http.post(self._base_url + CREATE_PATH, json=request,
                                    headers=self._headers), "task_id")
        log.debug("%s: created task %s", self.name, task_id)
        return task_id

    async def fetch(self, task_id: str) -> TaskState:
        """Read a task's result and convert it (see :func:`task_state`)."""
        state = await self._boundary.read(
            task_id, lambda: self._http.get(self._base_url + TASK_PATH + quote(task_id, safe=""),
                                            headers=self._headers),
            task_state)
        log.debug("%s: task %s is %s", self.name, task_id, state.status.value)
        return state

    async def aclose(self) -> None:
        """Close the injected HTTP client."""
        await self._http.aclose()


def task_state(data: Mapping[str, Any]) -> TaskState:
    """Convert a task result's ``data`` into a TaskState.

    Raises ValueError, saying what is wrong, for an unknown ``status`` or a ``success`` without
    resource URLs.
    """
    raw = data.get("status")
    status = _STATUSES.get(raw.lower()) if isinstance(raw, str) else None
    if status is None:
        raise ValueError(f"unknown status {raw!r}")
    if status is TaskStatus.FAILED:
        code, message = _failure(data)
        return TaskState(status, error_code=code, error_message=message)
    if status is not TaskStatus.SUCCEEDED:
        return TaskState(status)
    result = data.get("result")
    resources = result.get("resources") if isinstance(result, dict) else None
    urls = tuple(r["url"] for r in resources or () if isinstance(r, dict)
                 and isinstance(r.get("url"), str))
    if not urls:
        raise ValueError("status success without result.resources[].url")
    return TaskState(status, image_urls=urls)


def _failure(data: Mapping[str, Any]) -> tuple[str, str | None]:
    """The failure's code and message. Modellix documents no failure fields: use an ``error``
    object's ``code``/``message`` or an ``error`` string when present, else the status itself."""
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or data["status"]), _str_or_none(error.get("message"))
    return str(data["status"]), _str_or_none(error)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
