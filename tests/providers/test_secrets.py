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
from seedflow.providers.errors import ProviderError
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
    assert all(f"{provider}: " in text for text in shown[3:])  # both calls failed, and said so
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
