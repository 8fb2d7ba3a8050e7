"""The API key never shows: not in messages, reprs, tracebacks or logs, on any client path."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import ProviderClient
from seedflow.providers.errors import Ambiguous, ProviderError
from seedflow.providers.modellix.client import ModellixClient
from seedflow.sim import Fault, SimConfig, Simulator

KEY = "sk-SEEDFLOW-CANARY-123456"
Handler = Callable[[httpx.Request], httpx.Response]
Factory = Callable[[httpx.AsyncClient, str], ProviderClient]

FACTORIES: dict[str, Factory] = {
    "apikley": lambda http, base: ApikleyClient(http, base_url=base, api_key=KEY,
                                                callback_url="http://127.0.0.1:9/callback"),
    "modellix": lambda http, base: ModellixClient(http, base_url=base, api_key=KEY),
}
REQUESTS: dict[str, dict[str, Any]] = {
    "apikley": {"model": "bytedance/seedream-v4-text-to-image", "input": {"prompt": "a key"}},
    "modellix": {"prompt": "a key", "size": "2048x2048"},
}


def echo(status: int, code: int) -> Handler:
    """A hostile server that quotes the Authorization header back in its error message."""
    def handler(request: httpx.Request) -> httpx.Response:
        said = f"bad token {request.headers['authorization']}"
        return httpx.Response(status, json={"code": code, "msg": said, "message": said})
    return handler


def silent(status: int) -> Handler:
    """A server that answers ``status`` with an empty body."""
    return lambda request: httpx.Response(status)


def breaking(exc_type: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("connection trouble", request=request)
    return handler


HANDLERS: list[Handler] = [
    echo(401, 401), echo(200, 401), echo(402, 402), echo(200, 422), echo(429, 429),
    echo(500, 500), echo(503, 455), echo(200, 501), echo(404, 404), silent(401), silent(500),
    silent(200), breaking(httpx.ConnectError), breaking(httpx.ReadTimeout),
    breaking(httpx.RemoteProtocolError),
]


def traces(exc: BaseException) -> str:
    """Everything an exception could show: message, repr, args, attributes and traceback."""
    shown = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    if isinstance(exc, ProviderError):
        shown += [exc.message, str(exc.provider_message)]
    return "\n".join(shown)


async def every_call(client: ProviderClient, request: dict[str, Any]) -> list[str]:
    """Submit and fetch; return what each call showed (its result or its error)."""
    shown = [repr(client), str(client), repr(client.limits)]
    for call in (lambda: client.submit(request), lambda: client.fetch("task_1")):
        try:
            shown.append(repr(await call()))
        except ProviderError as exc:
            shown.append(traces(exc))
    await client.aclose()
    return shown


@pytest.mark.parametrize("provider", FACTORIES)
@pytest.mark.parametrize("handler", HANDLERS)
def test_no_mock_path_shows_the_key(provider: str, handler: Handler,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    shown = asyncio.run(every_call(FACTORIES[provider](http, "https://api.example.test"),
                                   REQUESTS[provider]))
    # both calls failed and said so (a read answered 501 is a failed task, not an error)
    assert all(f"{provider}: " in text or text.startswith("TaskState(status=<TaskStatus.FAILED")
               for text in shown[3:]), shown
    assert KEY not in "\n".join(shown)
    assert KEY not in caplog.text


def test_a_hostile_echo_is_redacted_not_dropped() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(echo(401, 401)))
    shown = asyncio.run(every_call(FACTORIES["apikley"](http, "https://api.example.test"),
                                   REQUESTS["apikley"]))
    assert "bad token Bearer [REDACTED]" in shown[-1]


@pytest.mark.parametrize("provider", FACTORIES)
@pytest.mark.parametrize("setup", ["ok", "wrong key", "no credits", "drop", "slow", "429"])
def test_no_loopback_path_shows_the_key(provider: str, setup: str,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SimConfig(latency=0.01, slow_seconds=1.0,
                       api_key="another-key" if setup == "wrong key" else None,
                       credits=0 if setup == "no credits" else None)
    faults = {"drop": Fault.DROP_AFTER_RECORD, "slow": Fault.SLOW_RESPONSE,
              "429": Fault.HTTP_429}
    with Simulator(config) as sim:
        if setup in faults:
            sim.inject(faults[setup])
        http = httpx.AsyncClient(timeout=0.3)
        shown = asyncio.run(every_call(FACTORIES[provider](http, sim.base_url),
                                       REQUESTS[provider]))
    assert KEY not in "\n".join(shown)
    assert KEY not in caplog.text


def test_nothing_in_the_request_log_but_the_header_carries_the_key() -> None:
    """The key travels only in the Authorization header: not in the URL or the body."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 200, "msg": "success",
                                         "data": {"taskId": "t"}})

    for provider, factory in FACTORIES.items():
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        asyncio.run(every_call(factory(http, "https://api.example.test"), REQUESTS[provider]))
    assert len(seen) == 4
    for request in seen:
        assert KEY not in str(request.url)
        assert KEY not in request.content.decode()
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert KEY not in json.dumps([k for k, _ in request.headers.items()])


def answering(body: Callable[[str], dict[str, Any]]) -> Handler:
    """A server whose 200 answer quotes the Authorization header where ``body`` puts it."""
    return lambda request: httpx.Response(200, json=body(request.headers["authorization"]))


FAILURES: dict[str, Callable[[str], dict[str, Any]]] = {
    "apikley": lambda said: {"code": 200, "msg": "success", "data": {
        "taskId": "task_1", "state": "fail", "failCode": f"E {said}", "failMsg": f"no {said}"}},
    "modellix": lambda said: {"code": 0, "message": "success", "data": {
        "status": "error", "error": {"code": f"E {said}", "message": f"no {said}"}}},
}


@pytest.mark.parametrize("provider", FACTORIES)
def test_a_failure_that_echoes_the_key_is_redacted_at_the_boundary(provider: str) -> None:
    """failCode/failMsg (Modellix: its error code and message) become TaskState text that the
    executor writes into the lock's ``error`` and into apply's output: redacted once, here."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(answering(FAILURES[provider])))
    client = FACTORIES[provider](http, "https://api.example.test")

    async def run() -> Any:
        try:
            return await client.fetch("task_1")
        finally:
            await client.aclose()

    state = asyncio.run(run())
    assert (state.error_code, state.error_message) == ("E Bearer [REDACTED]",
                                                       "no Bearer [REDACTED]")


def test_a_501_record_that_echoes_the_key_is_redacted() -> None:
    def body(said: str) -> dict[str, Any]:
        return {"code": 501, "msg": f"failed {said}", "data": {
            "taskId": "task_1", "state": "fail", "failCode": said, "failMsg": f"x {said}"}}

    http = httpx.AsyncClient(transport=httpx.MockTransport(answering(body)))
    client = FACTORIES["apikley"](http, "https://api.example.test")
    state = asyncio.run(client.fetch("task_1"))
    assert KEY not in repr(state)
    assert state.error_message == "x Bearer [REDACTED]"


@pytest.mark.parametrize(("provider", "body"), [
    ("apikley", lambda said: {"code": 200, "msg": "success", "data": {"state": [said]}}),
    ("modellix", lambda said: {"code": 0, "message": "success", "data": {"status": {"s": said}}}),
    ("apikley", lambda said: {"code": 200, "msg": "success", "data": {
        "state": "success", "resultJson": {"resultUrls": [f"https://cdn.test/a.png?k={said}"]}}}),
    ("modellix", lambda said: {"code": 0, "message": "success", "data": {
        "status": "success", "result": {"resources": [{"url": f"https://cdn.test/{said}"}]}}}),
])
def test_an_unreadable_value_or_a_url_that_carries_the_key_never_shows_it(
        provider: str, body: Callable[[str], dict[str, Any]]) -> None:
    """A value quoted in an "unreadable" detail is redacted; a result URL holding the key
    cannot be (it would stop working), so the answer is one seedflow cannot read."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(answering(body)))
    client = FACTORIES[provider](http, "https://api.example.test")
    with pytest.raises(ProviderError) as caught:
        asyncio.run(client.fetch("task_1"))
    assert KEY not in traces(caught.value)
    assert "cannot read" in caught.value.message


@pytest.mark.parametrize("provider", FACTORIES)
def test_a_task_id_that_carries_the_key_is_not_recorded(provider: str) -> None:
    """A task id goes into the lock and the output as it is: one holding the key is an answer
    seedflow cannot use (Ambiguous: a task may exist)."""
    id_key = "taskId" if provider == "apikley" else "task_id"
    ok = 200 if provider == "apikley" else 0
    http = httpx.AsyncClient(transport=httpx.MockTransport(answering(
        lambda said: {"code": ok, "msg": "success", "data": {id_key: f"task-{said[7:]}"}})))
    client = FACTORIES[provider](http, "https://api.example.test")
    with pytest.raises(Ambiguous) as caught:
        asyncio.run(client.submit(REQUESTS[provider]))
    assert KEY not in traces(caught.value)
    assert f"data.{id_key} carries the API key" in caught.value.message
