"""The Apikley (kie.ai family) wire protocol, as documented in provider-docs/FACTS.md.

Quirks served on purpose, so that clients are written for them:

- every body carries its own ``code``; a refused create (validation) is HTTP 200 with body
  ``code`` 422, and an unknown task id is HTTP 200 with body ``code`` 404;
- error bodies put their text under ``SimConfig.apikley_message_key`` ("msg" by default), except
  404 ``Task not found``, which always uses "message" (as Apikley's rendered docs show);
- maintenance (HTTP 503) has body ``code`` 455;
- ``param`` and ``resultJson`` are JSON *strings*; ``resultJson`` is "" until success, and
  ``costTime``/``completeTime`` are null until the task finishes.

And, when configured or injected (``SimConfig``, ``Answer``): a refused parameter as body code
500 (HTTP 200 or 500) with kie's validator message, a failed task's record under body code 501,
``recordInfo is null`` (body code 422) for a task just created, other ``state`` words, a
``success`` without result URL.
"""

from __future__ import annotations

from typing import Any

from seedflow.sim.config import SimConfig
from seedflow.sim.images import ImageSpec, fit
from seedflow.sim.wire import (
    Reply,
    Task,
    canonical,
    dumps,
    json_reply,
    parse_object,
    schema_problem,
    shown_id,
    stage,
)

MODEL = "bytedance/seedream-v4-text-to-image"
RATIOS = {
    "square": (1, 1), "square_hd": (1, 1),
    "portrait_4_3": (3, 4), "portrait_3_2": (2, 3), "portrait_16_9": (9, 16),
    "landscape_4_3": (4, 3), "landscape_3_2": (3, 2), "landscape_16_9": (16, 9),
    "landscape_21_9": (21, 9),
}
STAGES = ((0.1, "waiting"), (0.25, "queuing"), (1.0, "generating"))
FAIL_CODE = "501"
FAIL_MSG = "Generation failed: the model returned no image (simulated failure)"
FAILED_MSG = "Generation failed"
"""``msg`` beside body code 501; the reason is the record's failMsg."""
REFUSAL = "image_size is not within the range of allowed options"
"""kie's answer (body code 500) to a value its validator does not allow, as integrators report
it from the live API."""
CREDITS_PER_IMAGE = 5
_ERRORS = {
    401: (401, "You do not have access permissions: invalid or missing API key"),
    402: (402, "Credits insufficient: top up your account"),
    429: (429, "Rate limit exceeded"),
    500: (500, "Internal server error, please try again later"),
    503: (455, "Service is currently under maintenance, please try again later"),
}


class Apikley:
    """Apikley's createTask / recordInfo protocol and callbacks."""

    provider = "apikley"
    id_prefix = "task_bytedance_"
    """As the documented ``task_bytedance_<digits>`` do; the rest describes the task."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config

    def error(self, status: int, retry_after: int | None = None) -> Reply:
        """HTTP ``status`` with the matching body code (455 for 503)."""
        code, text = _ERRORS[status]
        return json_reply(status, self._envelope(code, text), retry_after=retry_after)

    def check(self, raw: bytes) -> dict[str, Any] | Reply:
        """The body, or HTTP 200 with body code 422 naming what is wrong."""
        body = parse_object(raw)
        problem = body if isinstance(body, str) else schema_problem(self.provider, body)
        if problem is None and isinstance(body, dict):
            return body
        return json_reply(200, self._envelope(422, str(problem)))

    def image_count(self, body: dict[str, Any]) -> int:
        """``input.max_images`` (default 1)."""
        return max(1, int(_input(body).get("max_images", 1)))

    def created(self, task: Task, base_url: str) -> Reply:
        """``{"code":200,"msg":"success","data":{"taskId":...}}``."""
        return json_reply(200, {"code": 200, "msg": "success", "data": {"taskId": task.id}})

    def details(self, task: Task, now: float, base_url: str) -> Reply:
        """The task record (Get Task Details); a failed one under ``apikley_fail_code``."""
        record = self.record(task, now, base_url)
        failed = self.state(task, now) == "fail" and self._config.apikley_fail_code != 200
        if failed:
            code = self._config.apikley_fail_code
            return json_reply(200, {"code": code, "msg": FAILED_MSG, "data": record})
        return json_reply(200, {"code": 200, "msg": "success", "data": record})

    def unseen(self, task_id: str) -> Reply:
        """HTTP 200 with body code 422 ``recordInfo is null`` (documented)."""
        return json_reply(200, self._envelope(422, "recordInfo is null"))

    def refusal(self) -> Reply:
        """Body code 500 with kie's validator message, at ``apikley_refusal_status``."""
        return json_reply(self._config.apikley_refusal_status, self._envelope(500, REFUSAL))

    def not_found(self, task_id: str) -> Reply:
        """HTTP 200 with body code 404 (or 422 when no taskId was given)."""
        if not task_id:
            return json_reply(200, self._envelope(422, "taskId is required"))
        return json_reply(200, {"code": 404, "message": "Task not found", "data": None})

    def state(self, task: Task, now: float) -> str:
        """waiting → queuing → generating → success | fail."""
        return stage(task.progress(now), STAGES, "fail" if task.fails else "success")[0]

    def record(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        """The ``data`` of Get Task Details (and of the callback)."""
        progress = task.progress(now)
        state, began = stage(progress, STAGES, "fail" if task.fails else "success")
        done = progress >= 1.0
        times = self._config.report_times
        urls = task.file_urls(base_url) if state == "success" and not task.empty else None
        return {
            "taskId": task.id,
            "model": MODEL,
            "state": self._config.state_words.get(state, state),
            "param": dumps(task.request),
            "resultJson": dumps({"resultUrls": urls}) if urls else "",
            "failCode": FAIL_CODE if state == "fail" else "",
            "failMsg": FAIL_MSG if state == "fail" else "",
            "costTime": task.ms_at(1.0) - task.created_ms if done and times else None,
            "completeTime": task.ms_at(1.0) if done and times else None,
            "createTime": task.created_ms if times else None,
            "updateTime": task.ms_at(began) if times else None,
        }

    def callback(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        """The body POSTed to ``callBackUrl`` when the task has finished."""
        data = self.record(task, now, base_url)
        ok = self.state(task, now) == "success"
        data["creditsConsumed"] = CREDITS_PER_IMAGE * task.images if ok else 0
        return {"code": 200 if ok else 501, "msg": "success" if ok else FAIL_MSG, "data": data}

    def image_spec(self, task: Task, index: int) -> ImageSpec:
        """The prompt, image_size (as a ratio), resolution and seed."""
        params = _input(task.request)
        size = str(params.get("image_size", "square_hd"))
        ratio_w, ratio_h = RATIOS.get(size, (1, 1))
        width, height = fit(ratio_w, ratio_h, self._config.image_max_side)
        seed = params.get("seed")
        return ImageSpec(
            width=width,
            height=height,
            prompt=str(params.get("prompt", "")),
            facts=(
                f"apikley · {size} ({ratio_w}:{ratio_h}) · {params.get('image_resolution', '1K')}",
                f"seed {seed}" if seed is not None else "no seed",
                f"image {index}/{task.images} · {shown_id(self.id_prefix, task.id)}",
            ),
            colour_key=canonical({k: v for k, v in task.request.items() if k != "callBackUrl"}),
            index=index,
        )

    def _envelope(self, code: int, text: str) -> dict[str, Any]:
        return {"code": code, self._config.apikley_message_key: text, "data": None}


def _input(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("input")
    return params if isinstance(params, dict) else {}
