"""The Modellix wire protocol, as documented in provider-docs/FACTS.md.

Errors are ``{"code": <HTTP status>, "message": "<Category>: <detail>"}`` with that HTTP status;
success bodies have ``code`` 0. A create is checked against the request schema plus the rules a
schema cannot state (``size``: 921,600..16,777,216 pixels, aspect ratio 1/16..16).

When configured or injected (``SimConfig``, ``Answer``): the status words Modellix's official CLI
accepts (``running``, ``completed``, ``succeeded``, ``error``, ...), a ``success`` with no
result, a 404 for a task just created.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from seedflow.sim.config import SimConfig
from seedflow.sim.images import ImageSpec, fit, ratio_label
from seedflow.sim.wire import (
    Reply,
    Task,
    canonical,
    json_reply,
    parse_object,
    schema_problem,
    shown_id,
    stage,
)

MODEL_ID = "seedream-4.0-t2i"
DEFAULT_SIZE = "2048x2048"
MIN_PIXELS, MAX_PIXELS = 921_600, 16_777_216
STAGES = ((0.2, "pending"), (1.0, "processing"))
FAIL_MESSAGE = "Generation failed: the model returned no image (simulated failure)"
_SIZE = re.compile(r"(\d+)x(\d+)")
_ERRORS = {
    401: "Unauthorized: invalid or missing API key",
    402: "Insufficient balance: top up your account to create tasks",
    429: "Rate limit exceeded: too many requests, retry later",
    500: "Internal error: please retry later",
    503: "Service unavailable: please retry later",
}


class Modellix:
    """Modellix's seedream-4.0-t2i create and task-result protocol."""

    provider = "modellix"
    id_prefix = "task-"
    """As the documented ``task-<hex>`` do; the rest describes the task."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config

    def error(self, status: int, retry_after: int | None = None) -> Reply:
        """HTTP ``status`` with body code ``status``."""
        return _error(status, _ERRORS[status], retry_after)

    def check(self, raw: bytes) -> dict[str, Any] | Reply:
        """The body, or HTTP 400 ``Invalid format: ...`` / ``Invalid parameter: ...``."""
        body = parse_object(raw)
        if isinstance(body, str):
            return _error(400, f"Invalid format: {body}")
        size = body.get("size")
        problem = size_problem(size) if isinstance(size, str) else None
        if problem:
            return _error(400, f"Invalid format: {problem}")
        problem = schema_problem(self.provider, body)
        return _error(400, f"Invalid parameter: {problem}") if problem else body

    def image_count(self, body: dict[str, Any]) -> int:
        """``sequential_image_generation_max_images`` (default 5) in auto mode, else 1."""
        if body.get("sequential_image_generation") == "auto":
            return int(body.get("sequential_image_generation_max_images", 5))
        return 1

    def created(self, task: Task, base_url: str) -> Reply:
        """``{"code":0,"message":"success","data":{"status":"pending",...}}``."""
        return json_reply(200, {"code": 0, "message": "success", "data": {
            "status": "pending",
            "task_id": task.id,
            "model_id": MODEL_ID,
            "get_result": {"method": "GET", "url": f"{base_url}/api/v1/tasks/{task.id}"},
        }})

    def details(self, task: Task, now: float, base_url: str) -> Reply:
        """The task result: status, and on success the image resources."""
        status = self.state(task, now)
        data: dict[str, Any] = {
            "status": self._config.state_words.get(status, status),
            "task_id": task.id,
            "model_id": MODEL_ID,
            "duration": task.ms_at(task.progress(now)) - task.created_ms
                        if self._config.report_times else None,
            "result": self._result(task, base_url) if task.succeeded(now) else None,
        }
        if status == "failed":
            data["error"] = {"code": "generation_failed", "message": FAIL_MESSAGE}
        return json_reply(200, {"code": 0, "message": "success", "data": data})

    def not_found(self, task_id: str) -> Reply:
        """HTTP 404."""
        return _error(404, f"Not found: task '{task_id}' does not exist")

    def unseen(self, task_id: str) -> Reply:
        """HTTP 404, as for an unknown task."""
        return self.not_found(task_id)

    def refusal(self) -> Reply:
        """HTTP 400 ``Invalid parameter: ...`` (the documented error shape)."""
        return _error(400, "Invalid parameter: parameter 'size' is not supported by this model")

    def state(self, task: Task, now: float) -> str:
        """pending → processing → success | failed."""
        return stage(task.progress(now), STAGES, "failed" if task.fails else "success")[0]

    def image_spec(self, task: Task, index: int) -> ImageSpec:
        """The prompt, size and prompt-optimisation mode."""
        size = str(task.request.get("size", DEFAULT_SIZE))
        width, height = self._pixels(task)
        mode = task.request.get("optimize_prompt_mode", "standard")
        return ImageSpec(
            width=width,
            height=height,
            prompt=str(task.request.get("prompt", "")),
            facts=(
                f"modellix · {size} ({ratio_label(*_parse_size(size))})",
                f"optimize_prompt_mode {mode} · no seed",
                f"image {index}/{task.images} · {shown_id(self.id_prefix, task.id)}",
            ),
            colour_key=canonical(task.request),
            index=index,
        )

    def _pixels(self, task: Task) -> tuple[int, int]:
        """Pixel size of the served images: the requested ratio, scaled to image_max_side."""
        width, height = _parse_size(str(task.request.get("size", DEFAULT_SIZE)))
        return fit(width, height, self._config.image_max_side)

    def _result(self, task: Task, base_url: str) -> dict[str, Any]:
        width, height = self._pixels(task)
        resources = [{"url": url, "type": "image", "width": width, "height": height,
                      "format": "png", "role": "primary"} for url in task.file_urls(base_url)]
        return {
            "resources": resources,
            "metadata": {"image_count": task.images, "request_id": _request_id(task)},
            "extensions": {"submit_time": _iso(task.created_ms), "end_time": _iso(task.ms_at(1))}
            if self._config.report_times else {},
        }


def size_problem(size: str) -> str | None:
    """What is wrong with a ``WxH`` size beyond its JSON type, or None."""
    match = _SIZE.fullmatch(size)
    if not match:
        return f"parameter 'size' must be in format 'widthxheight', got '{size}'"
    width, height = int(match[1]), int(match[2])
    if not MIN_PIXELS <= width * height <= MAX_PIXELS:
        return (f"parameter 'size' must have {MIN_PIXELS} to {MAX_PIXELS} pixels in total, "
                f"got '{size}' ({width * height})")
    if not 1 / 16 <= width / height <= 16:
        return f"parameter 'size' must have an aspect ratio from 1/16 to 16, got '{size}'"
    return None


def _parse_size(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)


def _request_id(task: Task) -> str:
    return "req-" + hashlib.sha256(task.id.encode()).hexdigest()[:16]


def _error(status: int, message: str, retry_after: int | None = None) -> Reply:
    return json_reply(status, {"code": status, "message": message}, retry_after=retry_after)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
