"""The Apikley client: wire format and error mapping (MockTransport), then over real loopback HTTP
against the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from seedflow.errors import SeedflowError
from seedflow.providers.apikley.client import DEFAULT_LIMITS, ApikleyClient, task_state
from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    GenerationFailed,
    OutOfCredits,
    ProviderError,
    RequestRejected,
    RetryLater,
    StopAll,
    TaskNotFound,
)
from seedflow.sim import Fault, SimConfig, Simulator

KEY = "test-key"
BASE = "https://api.apikley.test"
REQUEST: dict[str, Any] = {"model": "bytedance/seedream-v4-text-to-image",
                           "input": {"prompt": "a red bicycle", "image_size": "square_hd"}}
Handler = Callable[[httpx.Request], httpx.Response]
Settle = Callable[[ProviderClient, str], Awaitable[TaskState]]


def client(handler: Handler, **kwargs: Any) -> ApikleyClient:
    """A client whose HTTP goes to ``handler``."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ApikleyClient(http, base_url=kwargs.pop("base_url", BASE), api_key=KEY, **kwargs)


def answer(status: int, body: Any = None, *, text: str | None = None,
           headers: dict[str, str] | None = None) -> Handler:
    """A handler that answers every request the same way."""
    content = text.encode() if text is not None else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers)


def failing(exc_type: type[httpx.TransportError]) -> Handler:
    """A handler whose transport fails with ``exc_type``."""
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)
    return handler


async def submit(c: ApikleyClient) -> str:
    async with asyncio.timeout(5):
        try:
            return await c.submit(REQUEST)
        finally:
            await c.aclose()


async def fetch(c: ApikleyClient, task_id: str = "task_1") -> TaskState:
    async with asyncio.timeout(5):
        try:
            return await c.fetch(task_id)
        finally:
            await c.aclose()


def record(state: str, **fields: Any) -> dict[str, Any]:
    """A recordInfo answer around a task record in ``state``."""
    data = {"taskId": "task_1", "model": REQUEST["model"], "state": state,
            "param": json.dumps(REQUEST), "resultJson": "", "failCode": "", "failMsg": "",
            "costTime": None, "completeTime": None, "createTime": 1698765400000,
            "updateTime": 1698765400000} | fields
    return {"code": 200, "msg": "success", "data": data}


# --- wire format -------------------------------------------------------------------------------

def test_submit_posts_the_native_body_with_bearer_auth_and_returns_the_task_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 200, "msg": "success",
                                         "data": {"taskId": "task_bytedance_1765176547151"}})

    assert asyncio.run(submit(client(handler))) == "task_bytedance_1765176547151"
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/api/v1/jobs/createTask")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == REQUEST


def test_submit_adds_the_callback_url_when_one_is_set() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": {"taskId": "t"}})

    asyncio.run(submit(client(handler, callback_url="http://127.0.0.1:9/callback")))
    assert seen == [REQUEST | {"callBackUrl": "http://127.0.0.1:9/callback"}]
    assert "callBackUrl" not in REQUEST


def test_fetch_gets_record_info_for_the_task_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=record("generating"))

    assert asyncio.run(fetch(client(handler), "task_bytedance_9")) == TaskState(TaskStatus.RUNNING)
    [request] = seen
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/api/v1/jobs/recordInfo?taskId=task_bytedance_9"
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_a_trailing_slash_on_the_base_url_is_ignored() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": {"taskId": "t"}})

    asyncio.run(submit(client(handler, base_url=BASE + "/")))
    assert urls == [f"{BASE}/api/v1/jobs/createTask"]


def test_defaults_follow_the_published_limits() -> None:
    c = client(answer(200, {}))
    assert (c.name, c.limits) == ("apikley", DEFAULT_LIMITS)
    assert DEFAULT_LIMITS.create_rate == (20, 10.0)
    assert DEFAULT_LIMITS.concurrency == 100
    assert DEFAULT_LIMITS.max_poll == 30.0
    checked: ProviderClient = c
    assert checked is c


def test_a_key_that_cannot_go_in_a_header_is_refused_without_showing_it() -> None:
    with pytest.raises(SeedflowError) as caught:
        ApikleyClient(httpx.AsyncClient(), base_url=BASE, api_key="sk-secret\n")
    assert "APIKLEY_API_KEY" in caught.value.message
    assert "sk-secret" not in caught.value.message


# --- task records ------------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "status"), [
    ("waiting", TaskStatus.PENDING),
    ("queuing", TaskStatus.PENDING),
    ("generating", TaskStatus.RUNNING),
    (" Generating ", TaskStatus.RUNNING),
])
def test_unfinished_states(state: str, status: TaskStatus) -> None:
    assert task_state(record(state)["data"]) == TaskState(status)


@pytest.mark.parametrize("state", ["processing", "pending", "exploded", "SUCCEEDED"])
def test_an_unknown_state_keeps_the_task_polling(state: str) -> None:
    """Only the five documented words end or name a stage; any other word means the task exists
    and has not said it ended: RUNNING, never an error and never a new create."""
    assert task_state(record(state)["data"]) == TaskState(TaskStatus.RUNNING)


@pytest.mark.parametrize("result_json", ["", None, json.dumps({"resultUrls": []}),
                                         json.dumps({}), {"resultUrls": None}])
def test_success_without_a_result_url_is_over_with_no_image(result_json: Any) -> None:
    """The task is finished (polling again cannot change that): SUCCEEDED with no image, which
    apply records as failed, instead of an unreadable answer to retry and resume forever."""
    state = task_state(record("success", resultJson=result_json)["data"])
    assert state == TaskState(TaskStatus.SUCCEEDED, ())


@pytest.mark.parametrize("result_json", [
    json.dumps({"resultUrls": ["https://example.com/a.png", "https://example.com/b.png"]}),
    {"resultUrls": ["https://example.com/a.png", "https://example.com/b.png"]},
])
def test_success_reads_result_urls_from_a_json_string_or_an_object(result_json: Any) -> None:
    state = task_state(record("success", resultJson=result_json)["data"])
    assert state == TaskState(TaskStatus.SUCCEEDED,
                              ("https://example.com/a.png", "https://example.com/b.png"))


def test_the_documented_record_example_is_read() -> None:
    data = {"taskId": "task_12345678", "model": "grok-imagine/text-to-image", "state": "success",
            "param": "{\"model\":\"grok-imagine/text-to-image\",\"callBackUrl\":\"https://your-"
                     "domain.com/api/callback\",\"input\":{\"prompt\":\"Cinematic portrait...\","
                     "\"aspect_ratio\":\"3:2\"}}",
            "resultJson": "{\"resultUrls\":[\"https://example.com/generated-content.jpg\"]}",
            "failCode": "", "failMsg": "", "costTime": 15000, "completeTime": 1698765432000,
            "createTime": 1698765400000, "updateTime": 1698765432000}
    assert task_state(data) == TaskState(TaskStatus.SUCCEEDED,
                                         ("https://example.com/generated-content.jpg",))


@pytest.mark.parametrize("param", ["", None, "{not json", {"model": "x"}])
def test_param_in_any_shape_does_not_matter(param: Any) -> None:
    assert task_state(record("waiting", param=param)["data"]) == TaskState(TaskStatus.PENDING)


def test_fail_carries_the_fail_code_and_message() -> None:
    data = record("fail", failCode="501", failMsg="content policy")["data"]
    assert task_state(data) == TaskState(TaskStatus.FAILED, (), "501", "content policy")


def test_fail_without_details_has_none() -> None:
    data = record("fail", failCode="", failMsg=None)["data"]
    assert task_state(data) == TaskState(TaskStatus.FAILED)


@pytest.mark.parametrize("fields", [
    {"state": None},
    {"state": ""},
    {"state": ["success"]},
    {"state": "success", "resultJson": "{broken"},
    {"state": "success", "resultJson": json.dumps({"resultUrls": [7]})},
    {"state": "success", "resultJson": json.dumps({"resultUrls": "https://x/a.png"})},
])
def test_unreadable_records_raise_value_error(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        task_state(record("waiting")["data"] | fields)


def test_fetch_of_an_unreadable_record_is_retry_later() -> None:
    body = record("success", resultJson=json.dumps({"resultUrls": [7]}))
    with pytest.raises(RetryLater) as caught:
        asyncio.run(fetch(client(answer(200, body))))
    assert "resultUrls" in caught.value.message


# --- error mapping -----------------------------------------------------------------------------

CREATE_ERRORS = [
    # (HTTP status, body, headers, expected error, body code)
    (200, {"code": 422, "msg": "prompt is required", "data": None}, {}, RequestRejected, 422),
    (401, {"code": 401, "msg": "You do not have access permissions"}, {}, AuthFailed, 401),
    (200, {"code": 401, "msg": "You do not have access permissions"}, {}, AuthFailed, 401),
    (402, {"code": 402, "msg": "Credits insufficient"}, {}, OutOfCredits, 402),
    (200, {"code": 404, "message": "Not Found"}, {}, RequestRejected, 404),
    (200, {"code": 408, "msg": "upstream timeout"}, {}, Ambiguous, 408),
    (429, {"code": 429, "msg": "Rate limit exceeded"}, {"Retry-After": "7"}, RetryLater, 429),
    (200, {"code": 433, "msg": "sub-key usage over limit"}, {}, RetryLater, 433),
    (503, {"code": 455, "msg": "under maintenance"}, {}, RetryLater, 455),
    (500, {"code": 500, "msg": "Internal server error"}, {}, Ambiguous, 500),
    (200, {"code": 500, "msg": "Server Error"}, {}, Ambiguous, 500),
    (200, {"code": 501, "msg": "Generation failed"}, {}, GenerationFailed, 501),
    (503, {"code": 503, "msg": "unavailable"}, {}, Ambiguous, 503),
    (200, {"code": 505, "msg": "Feature disabled"}, {}, RequestRejected, 505),
    # kie's validator refusing a parameter with code 500 (integrators' reports of the live API)
    (200, {"code": 500, "msg": "image_size is not within the range of allowed options",
           "data": None}, {}, RequestRejected, 500),
    (500, {"code": 500, "msg": "image_size is not within the range of allowed options",
           "data": None}, {}, RequestRejected, 500),
]


@pytest.mark.parametrize(("http_status", "body", "headers", "error", "code"), CREATE_ERRORS)
def test_create_error_mapping(http_status: int, body: dict[str, Any], headers: dict[str, str],
                              error: type[ProviderError], code: int) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(submit(client(answer(http_status, body, headers=headers))))
    exc = caught.value
    assert type(exc) is error
    said = body.get("msg") or body.get("message")
    assert (exc.provider, exc.http_status, exc.code, exc.provider_message) == (
        "apikley", http_status, code, said)
    assert exc.message.startswith("apikley: creating a task failed (HTTP ")
    assert f"HTTP {http_status}" in exc.message
    assert f'"{said}"' in exc.message
    assert (f"code {code}" in exc.message) == (code != http_status)


FETCH_ERRORS = [
    (200, {"code": 404, "message": "Task not found", "data": None}, TaskNotFound, 404),
    (404, {"code": 404, "message": "Task not found"}, TaskNotFound, 404),
    (200, {"code": 422, "msg": "recordInfo is null"}, TaskNotFound, 422),
    (401, {"code": 401, "msg": "Unauthorized"}, AuthFailed, 401),
    (402, {"code": 402, "msg": "Credits insufficient"}, OutOfCredits, 402),
    (429, {"code": 429, "msg": "Rate limit exceeded"}, RetryLater, 429),
    (200, {"code": 433, "msg": "sub-key usage over limit"}, RetryLater, 433),
    (503, {"code": 455, "msg": "maintenance"}, RetryLater, 455),
    (500, {"code": 500, "msg": "boom"}, RetryLater, 500),
    (502, {"code": 502, "msg": "bad gateway"}, RetryLater, 502),
    (200, {"code": 505, "msg": "Feature disabled"}, RequestRejected, 505),
]


@pytest.mark.parametrize(("http_status", "body", "error", "code"), FETCH_ERRORS)
def test_fetch_error_mapping(http_status: int, body: dict[str, Any],
                             error: type[ProviderError], code: int) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(fetch(client(answer(http_status, body)), "task_42"))
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.message.startswith("apikley: reading task task_42 failed (HTTP ")


@pytest.mark.parametrize("said", [
    "image_size is not within the range of allowed options",
    "This aspect_ratio is not within the range of allowed options",
    "resolution is not within the range of allowed options.",
    "This field is required",
    "The text length cannot exceed the maximum limit",
])
@pytest.mark.parametrize("http_status", [200, 500])
def test_a_code_500_parameter_refusal_is_rejected_with_the_providers_words(
        said: str, http_status: int) -> None:
    """kie answers some invalid parameters with body code 500 (at HTTP 200 or 500): a request
    the provider says is invalid is refused at once, in its words, with what to do."""
    with pytest.raises(RequestRejected) as caught:
        asyncio.run(submit(client(answer(http_status, {"code": 500, "msg": said, "data": None}))))
    assert caught.value.provider_message == said
    assert caught.value.message == (
        f"apikley: creating a task failed (HTTP {http_status}"
        f"{', code 500' if http_status != 500 else ''}: {json.dumps(said)}); fix the request; "
        "sending it unchanged fails again")


@pytest.mark.parametrize("said", [
    "Internal Server Error", "Server Error", "Internal server error while validating "
    "image_size", "System busy, please try again",
    "image_size is not within the range of allowed options; the task was queued",
    "Error: This field is required by the upstream model (task_bytedance_1)", "", None])
def test_any_other_code_500_on_create_is_ambiguous(said: str | None) -> None:
    """An unrecognised 500 is a server error after the create was received: the task may
    exist, so it is never re-sent on its own (Ambiguous), only whole validator messages are
    refusals."""
    body: dict[str, Any] = {"code": 500, "data": None} | ({"msg": said} if said is not None else {})
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(client(answer(200, body))))
    assert "the answer does not say whether the task was created" in caught.value.message
    assert "uncertain" in caught.value.message


def test_a_code_500_refusal_on_a_read_is_not_a_rejection() -> None:
    """The refusal patterns are about creates; a read answering 500 is retried (it is free)."""
    body = {"code": 500, "msg": "image_size is not within the range of allowed options"}
    with pytest.raises(RetryLater):
        asyncio.run(fetch(client(answer(200, body))))


@pytest.mark.parametrize(("body", "code", "message"), [
    # kie's failure shape (body code 501 with the task record, as its callbacks carry it):
    # the record's failCode/failMsg are the reason
    ({"code": 501, "msg": "Generation failed", "data": {
        "taskId": "task_1", "state": "fail", "failCode": "400",
        "failMsg": "The prompt was flagged by content moderation"}},
     "400", "The prompt was flagged by content moderation"),
    ({"code": 501, "msg": "Generation failed", "data": {"taskId": "task_1", "failMsg": "boom"}},
     "501", "boom"),
    ({"code": 501, "msg": "Generation failed", "data": None}, "501", "Generation failed"),
    ({"code": 501}, "501", "the generation failed"),
    ({"code": 408, "msg": "", "data": None}, "408",
     "the upstream model gave no result within 10 minutes"),
    ({"code": 408, "msg": "no result within 10 minutes"}, "408", "no result within 10 minutes"),
    ({"code": 501, "msg": "failed", "data": {"failMsg": '{"error": {"reason": "nsfw"}}'}},
     "501", '{"error": {"reason": "nsfw"}}'),
])
def test_a_failure_code_on_a_read_is_a_failed_state_with_the_providers_reason(
        body: dict[str, Any], code: str, message: str) -> None:
    state = asyncio.run(fetch(client(answer(200, body))))
    assert state == TaskState(TaskStatus.FAILED, (), code, message)


def test_messages_say_what_to_do() -> None:
    hints = {401: "check APIKLEY_API_KEY", 402: "top up credits with apikley",
             422: "fix the request", 455: "under maintenance", 433: "usage limit",
             505: "the feature is disabled", 501: "creates (and pays for) a new task"}
    for code, hint in hints.items():
        with pytest.raises(ProviderError) as caught:
            asyncio.run(submit(client(answer(200, {"code": code, "msg": "x"}))))
        assert hint in caught.value.message, (code, caught.value.message)


def test_message_key_may_be_msg_or_message() -> None:
    for key in ("msg", "message"):
        with pytest.raises(RequestRejected) as caught:
            asyncio.run(submit(client(answer(200, {"code": 422, key: "bad size"}))))
        assert caught.value.provider_message == "bad size"


def test_auth_and_credits_stop_all_creates() -> None:
    assert issubclass(AuthFailed, StopAll)
    assert issubclass(OutOfCredits, StopAll)


def test_429_with_retry_after_says_when() -> None:
    with pytest.raises(RetryLater) as caught:
        asyncio.run(submit(client(answer(429, {"code": 429, "msg": "Rate limit exceeded"},
                                         headers={"Retry-After": "7"}))))
    assert caught.value.retry_after == 7.0
    assert "wait 7s" in caught.value.message


def test_429_in_the_body_of_http_200_reads_x_ratelimit_reset() -> None:
    with pytest.raises(RetryLater) as caught:
        asyncio.run(submit(client(answer(200, {"code": 429, "msg": "slow down"},
                                         headers={"X-RateLimit-Reset": "12"}))))
    assert caught.value.retry_after == 12.0


@pytest.mark.parametrize("http_status", [502, 504])
def test_gateway_errors_on_create_are_ambiguous(http_status: int) -> None:
    with pytest.raises(Ambiguous):
        asyncio.run(submit(client(answer(http_status, text="<html>Bad Gateway</html>"))))


@pytest.mark.parametrize("http_status", [500, 503, 599])
def test_server_errors_without_a_json_body_on_create_are_ambiguous(http_status: int) -> None:
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(client(answer(http_status, text="<html>oops</html>"))))
    assert (caught.value.http_status, caught.value.code) == (http_status, http_status)


@pytest.mark.parametrize("http_status", [500, 502, 503, 504])
def test_server_errors_on_a_read_are_retry_later(http_status: int) -> None:
    with pytest.raises(RetryLater):
        asyncio.run(fetch(client(answer(http_status, text="<html>oops</html>"))))


@pytest.mark.parametrize("body", [
    "not json at all", "[1, 2]", '{"code": 200, "msg": "success"}',
    '{"code": 200, "msg": "success", "data": {}}', '{"msg": "success", "data": {"taskId": "t"}}',
    '{"code": 200, "data": {"taskId": 7}}', '{"code": 999, "msg": "?"}',
])
def test_an_unreadable_2xx_create_is_ambiguous(body: str) -> None:
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(client(answer(200, text=body))))
    assert "may exist and be billed" in caught.value.message


@pytest.mark.parametrize("body", ["not json at all", '{"code": 200, "msg": "success"}'])
def test_an_unreadable_2xx_fetch_is_retry_later(body: str) -> None:
    with pytest.raises(RetryLater):
        asyncio.run(fetch(client(answer(200, text=body))))


def test_malformed_json_on_an_error_status_uses_the_http_status() -> None:
    with pytest.raises(AuthFailed) as caught:
        asyncio.run(submit(client(answer(401, text="{bad json"))))
    assert (caught.value.http_status, caught.value.code) == (401, 401)
    assert caught.value.provider_message is None


def test_a_redirect_is_rejected_not_followed() -> None:
    with pytest.raises(RequestRejected):
        asyncio.run(submit(client(answer(301, text="", headers={"Location": "https://x/"}))))


# --- transport errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("exc_type", "error"), [
    (httpx.ConnectError, RetryLater),
    (httpx.ConnectTimeout, RetryLater),
    (httpx.PoolTimeout, RetryLater),
    (httpx.ReadTimeout, Ambiguous),
    (httpx.WriteTimeout, Ambiguous),
    (httpx.ReadError, Ambiguous),
    (httpx.WriteError, Ambiguous),
    (httpx.RemoteProtocolError, Ambiguous),
])
def test_transport_errors_on_submit(exc_type: type[httpx.TransportError],
                                    error: type[ProviderError]) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(submit(client(failing(exc_type))))
    assert type(caught.value) is error
    assert isinstance(caught.value.__cause__, exc_type)
    assert exc_type.__name__ in caught.value.message
    sent = "after the request was sent" if error is Ambiguous else "before anything was sent"
    assert sent in caught.value.message


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ReadTimeout,
                                      httpx.RemoteProtocolError, httpx.WriteError])
def test_transport_errors_on_fetch_are_retry_later(exc_type: type[httpx.TransportError]) -> None:
    with pytest.raises(RetryLater) as caught:
        asyncio.run(fetch(client(failing(exc_type))))
    assert type(caught.value) is RetryLater


# --- over loopback HTTP, against the simulator ----------------------------------------------

def sim_client(sim: Simulator, **kwargs: Any) -> ApikleyClient:
    http = httpx.AsyncClient(timeout=kwargs.pop("timeout", 5.0))
    return ApikleyClient(http, base_url=sim.base_url, api_key=kwargs.pop("api_key", KEY),
                         **kwargs)


async def create_and_settle(c: ApikleyClient, settle: Settle) -> TaskState:
    try:
        return await settle(c, await c.submit(REQUEST))
    finally:
        await c.aclose()


def test_sim_happy_path_ends_succeeded_with_urls(sim: Simulator, settle: Settle) -> None:
    request = REQUEST | {"input": REQUEST["input"] | {"max_images": 2}}

    async def run() -> TaskState:
        c = sim_client(sim)
        try:
            return await settle(c, await c.submit(request))
        finally:
            await c.aclose()

    state = asyncio.run(run())
    assert state.status is TaskStatus.SUCCEEDED
    assert len(state.image_urls) == 2
    assert all(url.startswith(sim.base_url + "/files/") for url in state.image_urls)
    assert sim.counters.creates == 1


def test_sim_validation_error_is_rejected(sim: Simulator) -> None:
    bad = {"model": REQUEST["model"], "input": {"image_size": "square_hd"}}

    async def run() -> str:
        c = sim_client(sim)
        try:
            return await c.submit(bad)
        finally:
            await c.aclose()

    with pytest.raises(RequestRejected) as caught:
        asyncio.run(run())
    assert (caught.value.http_status, caught.value.code) == (200, 422)
    assert "prompt" in caught.value.message
    assert sim.counters.creates == 0


def test_sim_unknown_task_is_not_found(sim: Simulator) -> None:
    with pytest.raises(TaskNotFound) as caught:
        asyncio.run(fetch(sim_client(sim), "task_bytedance_0"))
    assert caught.value.provider_message == "Task not found"


def test_sim_drop_after_record_is_ambiguous_and_the_task_exists(sim: Simulator) -> None:
    sim.inject(Fault.DROP_AFTER_RECORD)
    with pytest.raises(Ambiguous):
        asyncio.run(submit(sim_client(sim)))
    assert sim.counters.creates == 1
    assert len(sim.tasks) == 1


def test_sim_drop_before_record_is_ambiguous_too(sim: Simulator) -> None:
    """The client sees the same dropped connection whether or not the provider recorded the
    task, so it cannot tell the two apart: both are Ambiguous (here nothing was created)."""
    sim.inject(Fault.DROP_BEFORE_RECORD)
    with pytest.raises(Ambiguous):
        asyncio.run(submit(sim_client(sim)))
    assert sim.counters.creates == 0


def test_sim_slow_create_with_a_short_timeout_is_ambiguous(sim: Simulator) -> None:
    sim.config.slow_seconds = 2.0
    sim.inject(Fault.SLOW_RESPONSE)
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(sim_client(sim, timeout=0.3)))
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert sim.counters.creates == 1


def test_sim_slow_poll_with_a_short_timeout_is_retry_later(sim: Simulator) -> None:
    async def run() -> TaskState:
        c = sim_client(sim, timeout=0.3)
        try:
            task_id = await c.submit(REQUEST)
            sim.config.slow_seconds = 2.0
            sim.inject(Fault.SLOW_RESPONSE, endpoint="poll")
            return await c.fetch(task_id)
        finally:
            await c.aclose()

    with pytest.raises(RetryLater):
        asyncio.run(run())


def test_sim_429_is_retry_later_with_retry_after(sim: Simulator) -> None:
    sim.config.fault_retry_after = 3
    sim.inject(Fault.HTTP_429)
    with pytest.raises(RetryLater) as caught:
        asyncio.run(submit(sim_client(sim)))
    assert (caught.value.http_status, caught.value.code) == (429, 429)
    assert caught.value.retry_after == 3.0
    assert sim.counters.creates == 0


def test_sim_rate_limit_is_retry_later_with_retry_after() -> None:
    with Simulator(SimConfig(latency=0.05, rate_limit=(1, 10.0))) as sim:
        asyncio.run(submit(sim_client(sim)))
        with pytest.raises(RetryLater) as caught:
            asyncio.run(submit(sim_client(sim)))
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 10


@pytest.mark.parametrize(("fault", "http_status", "code", "endpoint", "error"), [
    (Fault.HTTP_500, 500, 500, "create", Ambiguous),
    (Fault.HTTP_503, 503, 455, "create", RetryLater),   # maintenance: nothing was created
    (Fault.HTTP_500, 500, 500, "poll", RetryLater),
    (Fault.HTTP_503, 503, 455, "poll", RetryLater)])
def test_sim_5xx(sim: Simulator, fault: Fault, http_status: int, code: int, endpoint: str,
                 error: type[ProviderError]) -> None:
    async def run() -> object:
        c = sim_client(sim)
        try:
            task_id = await c.submit(REQUEST) if endpoint == "poll" else ""
            sim.inject(fault, endpoint=endpoint)
            return await (c.fetch(task_id) if endpoint == "poll" else c.submit(REQUEST))
        finally:
            await c.aclose()

    with pytest.raises(error) as caught:
        asyncio.run(run())
    assert type(caught.value) is error
    assert (caught.value.http_status, caught.value.code) == (http_status, code)


def test_sim_generation_failed_ends_failed_with_code_and_message(sim: Simulator,
                                                                 settle: Settle) -> None:
    sim.inject(Fault.GENERATION_FAILED)
    state = asyncio.run(create_and_settle(sim_client(sim), settle))
    assert state.status is TaskStatus.FAILED
    assert state.error_code == "501"
    assert state.error_message and "failed" in state.error_message


def test_sim_wrong_key_is_auth_failed() -> None:
    with (Simulator(SimConfig(latency=0.05, api_key="the-right-key")) as sim,
          pytest.raises(AuthFailed) as caught):
        asyncio.run(submit(sim_client(sim, api_key="a-wrong-key")))
    assert "check APIKLEY_API_KEY" in caught.value.message
    assert "a-wrong-key" not in caught.value.message


def test_sim_no_credits_is_out_of_credits() -> None:
    with Simulator(SimConfig(latency=0.05, credits=1)) as sim:
        asyncio.run(submit(sim_client(sim)))
        with pytest.raises(OutOfCredits) as caught:
            asyncio.run(submit(sim_client(sim)))
    assert caught.value.code == 402
    assert "top up" in caught.value.message
