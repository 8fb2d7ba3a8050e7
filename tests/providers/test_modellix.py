"""The Modellix client: wire format and error mapping (MockTransport), then over real loopback
HTTP against the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    OutOfCredits,
    ProviderError,
    RequestRejected,
    RetryLater,
    TaskNotFound,
)
from seedflow.providers.modellix.client import DEFAULT_LIMITS, ModellixClient, task_state
from seedflow.sim import Fault, SimConfig, Simulator

KEY = "test-key"
BASE = "https://api.modellix.test"
REQUEST: dict[str, Any] = {"prompt": "Beautiful cherry blossom garden in spring",
                           "size": "2048x2048"}
Handler = Callable[[httpx.Request], httpx.Response]
Settle = Callable[[ProviderClient, str], Awaitable[TaskState]]


def client(handler: Handler) -> ModellixClient:
    """A client whose HTTP goes to ``handler``."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ModellixClient(http, base_url=BASE, api_key=KEY)


def answer(status: int, body: Any = None, *, text: str | None = None,
           headers: dict[str, str] | None = None) -> Handler:
    """A handler that answers every request the same way."""
    content = text.encode() if text is not None else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers)


async def submit(c: ModellixClient) -> str:
    async with asyncio.timeout(5):
        try:
            return await c.submit(REQUEST)
        finally:
            await c.aclose()


async def fetch(c: ModellixClient, task_id: str = "task-abc123") -> TaskState:
    async with asyncio.timeout(5):
        try:
            return await c.fetch(task_id)
        finally:
            await c.aclose()


CREATED = {"code": 0, "message": "success", "data": {
    "status": "pending", "task_id": "task-def456", "model_id": "model-123",
    "get_result": {"method": "GET", "url": "https://api.modellix.ai/api/v1/tasks/task-def456"}}}
DONE: dict[str, Any] = {"code": 0, "message": "success", "data": {
    "status": "success", "task_id": "task-abc123", "model_id": "qwen-image-plus", "duration": 3500,
    "result": {"resources": [{"url": "https://cdn.example.com/images/abc123.png", "type": "image",
                              "width": 1024, "height": 1024, "format": "png", "role": "primary"}],
               "metadata": {"image_count": 1, "request_id": "req-123456"},
               "extensions": {"submit_time": "2024-01-01T10:00:00Z",
                              "end_time": "2024-01-01T10:00:03Z"}}}}


# --- wire format -------------------------------------------------------------------------------

def test_submit_posts_the_native_body_and_returns_the_documented_task_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=CREATED)

    assert asyncio.run(submit(client(handler))) == "task-def456"
    [request] = seen
    assert (request.method, str(request.url)) == (
        "POST", f"{BASE}/api/v1/bytedance/seedream-4.0-t2i")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == REQUEST


def test_fetch_reads_the_documented_result_example() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=DONE)

    state = asyncio.run(fetch(client(handler)))
    assert state == TaskState(TaskStatus.SUCCEEDED, ("https://cdn.example.com/images/abc123.png",))
    assert str(seen[0].url) == f"{BASE}/api/v1/tasks/task-abc123"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_task_id_is_escaped_into_the_path() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json={"code": 0, "message": "success",
                                         "data": {"status": "pending"}})

    asyncio.run(fetch(client(handler), "a/b?c"))
    assert urls == [f"{BASE}/api/v1/tasks/a%2Fb%3Fc"]


def test_defaults_publish_no_rate_and_honour_retry_after() -> None:
    c = client(answer(200, {}))
    assert (c.name, c.limits) == ("modellix", DEFAULT_LIMITS)
    assert DEFAULT_LIMITS.create_rate is None
    assert DEFAULT_LIMITS.concurrency == 10
    checked: ProviderClient = c
    assert checked is c


@pytest.mark.parametrize(("status", "expected"), [
    ("pending", TaskStatus.PENDING), ("processing", TaskStatus.RUNNING),
    ("PROCESSING", TaskStatus.RUNNING),
    ("running", TaskStatus.RUNNING),   # Modellix CLI fixtures (test/commands/task/wait.test.ts)
])
def test_unfinished_statuses(status: str, expected: TaskStatus) -> None:
    assert task_state({"status": status}) == TaskState(expected)


@pytest.mark.parametrize("status", ["queued", "in_progress", "submitted", "weird", "RUNNING"])
def test_an_unknown_status_keeps_the_task_polling(status: str) -> None:
    """As the official CLI's waitForTaskResults: a status outside its success and failure sets
    is polled on until it ends; never an error, never a new create."""
    assert task_state({"status": status}) == TaskState(TaskStatus.RUNNING)


@pytest.mark.parametrize("status", ["failed", "cancelled", "canceled", "error", "Error"])
def test_the_clis_failure_statuses_are_failed(status: str) -> None:
    """FAILURE_TASK_STATUSES in the CLI's src/lib/task.ts."""
    assert task_state({"status": status}) == TaskState(TaskStatus.FAILED, (), status, None)


@pytest.mark.parametrize("status", ["success", "succeeded", "completed", "Completed"])
def test_the_clis_success_statuses_are_success(status: str) -> None:
    """SUCCESS_TASK_STATUSES in the CLI's src/lib/task.ts; the resources as documented."""
    data = dict(DONE["data"]) | {"status": status}
    assert task_state(data) == TaskState(TaskStatus.SUCCEEDED,
                                         ("https://cdn.example.com/images/abc123.png",))


@pytest.mark.parametrize("result", [None, {}, {"resources": []}, {"resources": None}])
def test_success_without_a_resource_is_over_with_no_image(result: Any) -> None:
    assert task_state({"status": "success", "result": result}) == TaskState(
        TaskStatus.SUCCEEDED, ())


def test_a_failure_reports_the_error_object() -> None:
    data = {"status": "failed", "error": {"code": "generation_failed", "message": "no image"}}
    assert task_state(data) == TaskState(TaskStatus.FAILED, (), "generation_failed", "no image")


def test_a_failure_reports_an_error_string() -> None:
    data = {"status": "failed", "error": "content policy"}
    assert task_state(data) == TaskState(TaskStatus.FAILED, (), "failed", "content policy")


@pytest.mark.parametrize("data", [
    {}, {"status": 3}, {"status": ""},
    {"status": "success", "result": {"resources": [{"url": 5}]}},
    {"status": "success", "result": {"resources": "https://x/a.png"}},
])
def test_unreadable_results_raise_value_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        task_state(data)


def test_fetch_of_an_unreadable_result_is_retry_later() -> None:
    body = {"code": 0, "message": "success", "data": {"status": None}}
    with pytest.raises(RetryLater):
        asyncio.run(fetch(client(answer(200, body))))


# --- error mapping -----------------------------------------------------------------------------

SIZE_MESSAGE = ("Invalid format: parameter 'size' must be in format 'width*height', got '1024'")
CREATE_ERRORS = [
    (400, SIZE_MESSAGE, {}, RequestRejected),
    (401, "Unauthorized: invalid API key", {}, AuthFailed),
    (402, "Insufficient balance", {}, OutOfCredits),
    (404, "Not found: model", {}, RequestRejected),
    (429, "Rate limit exceeded", {"Retry-After": "5"}, RetryLater),
    # the CLI: any other answer to a paid POST is "outcome unknown", never re-sent
    (500, "Internal error", {}, Ambiguous),
    (503, "Service unavailable", {}, Ambiguous),
]


@pytest.mark.parametrize(("status", "said", "headers", "error"), CREATE_ERRORS)
def test_create_error_mapping(status: int, said: str, headers: dict[str, str],
                              error: type[ProviderError]) -> None:
    body = {"code": status, "message": said}
    with pytest.raises(error) as caught:
        asyncio.run(submit(client(answer(status, body, headers=headers))))
    exc = caught.value
    assert type(exc) is error
    assert (exc.provider, exc.http_status, exc.code, exc.provider_message) == (
        "modellix", status, status, said)
    assert exc.message.startswith(f'modellix: creating a task failed (HTTP {status}: "')
    assert said in exc.message


FETCH_ERRORS = [
    (400, RequestRejected), (401, AuthFailed), (402, OutOfCredits), (404, TaskNotFound),
    (408, RetryLater), (429, RetryLater), (500, RetryLater), (501, RetryLater), (502, RetryLater),
    (503, RetryLater), (504, RetryLater), (505, RetryLater), (422, RequestRejected),
]


@pytest.mark.parametrize(("status", "error"), FETCH_ERRORS)
def test_fetch_error_mapping(status: int, error: type[ProviderError]) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(fetch(client(answer(status, {"code": status, "message": "x: y"}))))
    assert type(caught.value) is error
    assert caught.value.message.startswith("modellix: reading task task-abc123 failed")


def test_401_says_which_variable_to_check() -> None:
    with pytest.raises(AuthFailed) as caught:
        asyncio.run(submit(client(answer(401, {"code": 401, "message": "Unauthorized"}))))
    assert "check MODELLIX_API_KEY" in caught.value.message


def test_402_says_to_top_up() -> None:
    with pytest.raises(OutOfCredits) as caught:
        asyncio.run(submit(client(answer(402, {"code": 402, "message": "Insufficient"}))))
    assert "top up" in caught.value.message


def test_a_non_zero_code_in_http_200_is_an_error() -> None:
    with pytest.raises(RequestRejected) as caught:
        asyncio.run(submit(client(answer(200, {"code": 400, "message": "Invalid parameter"}))))
    assert (caught.value.http_status, caught.value.code) == (200, 400)


def test_429_honours_retry_after_as_an_http_date() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
    with pytest.raises(RetryLater) as caught:
        asyncio.run(submit(client(answer(429, {"code": 429, "message": "slow"},
                                         headers=headers))))
    assert caught.value.retry_after is not None and caught.value.retry_after > 10**9


def test_429_honours_x_ratelimit_reset() -> None:
    with pytest.raises(RetryLater) as caught:
        asyncio.run(submit(client(answer(429, {"code": 429, "message": "slow"},
                                         headers={"X-RateLimit-Reset": "3"}))))
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("text", ["<html>502</html>", "", "{\"code\": 0}", "[]", "{broken"])
def test_an_unreadable_2xx_create_is_ambiguous(text: str) -> None:
    with pytest.raises(Ambiguous):
        asyncio.run(submit(client(answer(200, text=text))))


def test_a_success_without_task_id_is_ambiguous() -> None:
    body = {"code": 0, "message": "success", "data": {"status": "pending"}}
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(client(answer(200, body))))
    assert "task_id" in caught.value.message


def test_malformed_json_on_an_error_status_uses_the_http_status() -> None:
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(client(answer(503, text="Service Unavailable"))))
    assert (caught.value.code, caught.value.provider_message) == (503, None)


DEFINITE = [400, 401, 402, 403, 404, 405, 413, 415, 422, 429]
"""The Modellix CLI's isDefinitelyRejectedSubmission (src/lib/modellix-client.ts)."""


@pytest.mark.parametrize("status", [*DEFINITE, 301, 408, 409, 418, 500, 501, 502, 503, 504, 505,
                                    520, 599])
def test_a_create_is_ambiguous_unless_definitely_rejected(status: int) -> None:
    """Only a definite rejection says nothing was created; every other answer to the paid POST
    leaves the outcome unknown, whatever the docs say about retrying 500 and 503."""
    with pytest.raises(ProviderError) as caught:
        asyncio.run(submit(client(answer(status, {"code": status, "message": "x: y"}))))
    assert isinstance(caught.value, Ambiguous) == (status not in DEFINITE), type(caught.value)
    if status == 429:
        assert type(caught.value) is RetryLater


def test_a_5xx_body_code_in_http_200_is_ambiguous_too() -> None:
    with pytest.raises(Ambiguous):
        asyncio.run(submit(client(answer(200, {"code": 500, "message": "Internal error"}))))


@pytest.mark.parametrize(("exc_type", "error"), [
    (httpx.ConnectError, RetryLater), (httpx.ReadTimeout, Ambiguous),
    (httpx.RemoteProtocolError, Ambiguous)])
def test_transport_errors_on_submit(exc_type: type[httpx.TransportError],
                                    error: type[ProviderError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    with pytest.raises(error):
        asyncio.run(submit(client(handler)))


# --- over loopback HTTP, against the simulator ----------------------------------------------

def sim_client(sim: Simulator, *, api_key: str = KEY, timeout: float = 5.0) -> ModellixClient:
    return ModellixClient(httpx.AsyncClient(timeout=timeout), base_url=sim.base_url,
                          api_key=api_key)


async def create_and_settle(c: ModellixClient, settle: Settle,
                            request: dict[str, Any] = REQUEST) -> TaskState:
    try:
        return await settle(c, await c.submit(request))
    finally:
        await c.aclose()


def test_sim_happy_path_ends_succeeded_with_urls(sim: Simulator, settle: Settle) -> None:
    request = REQUEST | {"sequential_image_generation": "auto",
                         "sequential_image_generation_max_images": 3}
    state = asyncio.run(create_and_settle(sim_client(sim), settle, request))
    assert state.status is TaskStatus.SUCCEEDED
    assert len(state.image_urls) == 3
    assert all(url.startswith(sim.base_url + "/files/") for url in state.image_urls)


def test_sim_bad_size_is_rejected_with_the_provider_message(sim: Simulator) -> None:
    async def run() -> str:
        c = sim_client(sim)
        try:
            return await c.submit({"prompt": "x", "size": "1024"})
        finally:
            await c.aclose()

    with pytest.raises(RequestRejected) as caught:
        asyncio.run(run())
    assert caught.value.http_status == 400
    assert "Invalid format" in caught.value.message


def test_sim_unknown_task_is_not_found(sim: Simulator) -> None:
    with pytest.raises(TaskNotFound):
        asyncio.run(fetch(sim_client(sim), "task-0"))


def test_sim_drop_after_record_is_ambiguous_and_the_task_exists(sim: Simulator) -> None:
    sim.inject(Fault.DROP_AFTER_RECORD)
    with pytest.raises(Ambiguous):
        asyncio.run(submit(sim_client(sim)))
    assert sim.counters.creates == 1


def test_sim_drop_before_record_is_ambiguous(sim: Simulator) -> None:
    sim.inject(Fault.DROP_BEFORE_RECORD)
    with pytest.raises(Ambiguous):
        asyncio.run(submit(sim_client(sim)))
    assert sim.counters.creates == 0


def test_sim_slow_create_with_a_short_timeout_is_ambiguous(sim: Simulator) -> None:
    sim.config.slow_seconds = 2.0
    sim.inject(Fault.SLOW_RESPONSE)
    with pytest.raises(Ambiguous):
        asyncio.run(submit(sim_client(sim, timeout=0.3)))
    assert sim.counters.creates == 1


def test_sim_429_is_retry_later_with_retry_after(sim: Simulator) -> None:
    sim.config.fault_retry_after = 2
    sim.inject(Fault.HTTP_429)
    with pytest.raises(RetryLater) as caught:
        asyncio.run(submit(sim_client(sim)))
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize(("fault", "status"), [(Fault.HTTP_500, 500), (Fault.HTTP_503, 503)])
def test_sim_5xx_on_create_is_ambiguous(sim: Simulator, fault: Fault, status: int) -> None:
    sim.inject(fault)
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(submit(sim_client(sim)))
    assert (caught.value.http_status, caught.value.code) == (status, status)
    assert sim.counters.create_requests == 1


def test_sim_generation_failed_ends_failed_with_code_and_message(sim: Simulator,
                                                                 settle: Settle) -> None:
    sim.inject(Fault.GENERATION_FAILED)
    state = asyncio.run(create_and_settle(sim_client(sim), settle))
    assert state.status is TaskStatus.FAILED
    assert state.error_code == "generation_failed"
    assert state.error_message and "failed" in state.error_message


def test_sim_wrong_key_is_auth_failed() -> None:
    with (Simulator(SimConfig(latency=0.05, api_key="the-right-key")) as sim,
          pytest.raises(AuthFailed)):
        asyncio.run(submit(sim_client(sim, api_key="a-wrong-key")))


def test_sim_no_credits_is_out_of_credits() -> None:
    with Simulator(SimConfig(latency=0.05, credits=0)) as sim, pytest.raises(OutOfCredits):
        asyncio.run(submit(sim_client(sim)))
