"""The callback receiver: signed, unsigned, bad and stale callbacks, and the state they carry."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import TaskState, TaskStatus
from seedflow.providers.callback import CallbackReceiver, signature
from seedflow.sim import Fault, SimConfig, Simulator

SECRET = "whsec-test"
REQUEST: dict[str, Any] = {"model": "bytedance/seedream-v4-text-to-image",
                           "input": {"prompt": "a forest cabin in snow"}}
RECORD: dict[str, Any] = {"taskId": "task_1", "state": "success", "param": "",
                          "resultJson": json.dumps({"resultUrls": ["https://x.test/1.png"]}),
                          "failCode": "", "failMsg": "", "creditsConsumed": 5}


async def through_sim(sim: Simulator, receiver: CallbackReceiver
                      ) -> tuple[tuple[str, TaskState] | None, TaskState]:
    """Create a task with the receiver's URL; once the simulator has sent its callback, return
    what was delivered (None if nothing) and what fetch then says."""
    http = httpx.AsyncClient(timeout=5.0)
    client = ApikleyClient(http, base_url=sim.base_url, api_key="test-key",
                           callback_url=receiver.url)
    try:
        task_id = await client.submit(REQUEST)
        for _ in range(200):
            counters = sim.counters
            if counters.callbacks_sent + counters.callbacks_failed:
                break
            await asyncio.sleep(0.01)
        delivered = None if receiver.events.empty() else receiver.events.get_nowait()
        return delivered, await client.fetch(task_id)
    finally:
        await client.aclose()


def run_with_sim(config: SimConfig, secret: str | None
                 ) -> tuple[tuple[str, TaskState] | None, TaskState, Simulator]:
    with Simulator(config) as sim:
        async def main() -> tuple[tuple[str, TaskState] | None, TaskState]:
            async with CallbackReceiver(secret) as receiver:
                return await through_sim(sim, receiver)

        delivered, fetched = asyncio.run(main())
        return delivered, fetched, sim


def test_unsigned_callback_is_delivered_as_fetch_would_see_it() -> None:
    delivered, fetched, sim = run_with_sim(SimConfig(latency=0.05), None)
    assert delivered is not None
    task_id, state = delivered
    assert task_id in sim.tasks
    assert state.status is TaskStatus.SUCCEEDED
    assert state == fetched
    assert sim.counters.callbacks_sent == 1


def test_signed_callback_is_delivered() -> None:
    delivered, fetched, sim = run_with_sim(SimConfig(latency=0.05, callback_secret=SECRET),
                                           SECRET)
    assert delivered is not None
    assert delivered[1] == fetched
    assert sim.counters.callbacks_sent == 1


def test_failed_generation_callback_converts_like_fetch() -> None:
    config = SimConfig(latency=0.05, callback_secret=SECRET)
    with Simulator(config) as sim:
        sim.inject(Fault.GENERATION_FAILED)

        async def main() -> tuple[tuple[str, TaskState] | None, TaskState]:
            async with CallbackReceiver(SECRET) as receiver:
                return await through_sim(sim, receiver)

        delivered, fetched = asyncio.run(main())
    assert delivered is not None
    assert delivered[1] == fetched
    assert fetched.status is TaskStatus.FAILED
    assert (fetched.error_code, fetched.error_message) != (None, None)


def test_a_wrong_signature_is_refused_with_401() -> None:
    delivered, _, sim = run_with_sim(SimConfig(latency=0.05, callback_secret="another"), SECRET)
    assert delivered is None
    assert (sim.counters.callbacks_sent, sim.counters.callbacks_failed) == (0, 1)


def test_an_unsigned_callback_to_a_signed_receiver_is_refused() -> None:
    delivered, _, sim = run_with_sim(SimConfig(latency=0.05), SECRET)
    assert delivered is None
    assert sim.counters.callbacks_failed == 1


# --- direct POSTs ------------------------------------------------------------------------------

def post(secret: str | None, content: bytes, headers: dict[str, str] | None = None, *,
         method: str = "POST", path: str | None = None
         ) -> tuple[httpx.Response, list[tuple[str, TaskState]]]:
    """Send one request to a fresh receiver; return the answer and what it delivered."""
    async def main() -> tuple[httpx.Response, list[tuple[str, TaskState]]]:
        async with CallbackReceiver(secret) as receiver, httpx.AsyncClient() as http:
            url = receiver.url if path is None else receiver.url.replace("/callback", path)
            response = await http.request(method, url, content=content, headers=headers)
            events = []
            while not receiver.events.empty():
                events.append(receiver.events.get_nowait())
            return response, events

    return asyncio.run(main())


def body(record: dict[str, Any] = RECORD, code: int = 200) -> bytes:
    return json.dumps({"code": code, "msg": "success", "data": record}).encode()


def signed(task_id: str, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    stamp = str(timestamp)
    return {"X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": signature(secret, task_id, stamp)}


def test_an_accepted_callback_is_answered_as_documented() -> None:
    response, events = post(SECRET, body(), signed("task_1", int(time.time())))
    assert response.status_code == 200
    assert response.json() == {"code": 200, "msg": "success"}
    assert events == [("task_1", TaskState(TaskStatus.SUCCEEDED, ("https://x.test/1.png",)))]


def test_unsigned_receiver_accepts_without_headers() -> None:
    response, events = post(None, body())
    assert response.status_code == 200
    assert [task_id for task_id, _ in events] == ["task_1"]


def test_the_signature_covers_the_task_id() -> None:
    response, events = post(SECRET, body(), signed("task_2", int(time.time())))
    assert response.status_code == 401
    assert events == []


@pytest.mark.parametrize("age", [301, 3600, -3600])
def test_a_stale_or_future_timestamp_is_refused(age: int) -> None:
    response, events = post(SECRET, body(), signed("task_1", int(time.time()) - age))
    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert events == []


@pytest.mark.parametrize("headers", [
    {}, {"X-Webhook-Timestamp": "123"}, {"X-Webhook-Signature": "abc"},
    {"X-Webhook-Timestamp": "not-a-number", "X-Webhook-Signature": "abc"}])
def test_missing_or_malformed_signature_headers_are_refused(headers: dict[str, str]) -> None:
    response, events = post(SECRET, body(), headers)
    assert response.status_code == 401
    assert events == []


def test_a_failure_callback_is_delivered_failed() -> None:
    record = RECORD | {"state": "fail", "resultJson": "", "failCode": "501",
                       "failMsg": "Generation failed"}
    response, events = post(None, body(record, code=501))
    assert response.status_code == 200
    assert events == [("task_1", TaskState(TaskStatus.FAILED, (), "501", "Generation failed"))]


@pytest.mark.parametrize("content", [
    b"not json", b"[]", json.dumps({"code": 200, "data": None}).encode(),
    json.dumps({"code": 200, "data": {"state": "success"}}).encode(),
    body(RECORD | {"state": "mystery"})])
def test_unreadable_callbacks_are_400(content: bytes) -> None:
    response, events = post(None, content)
    assert response.status_code == 400
    assert events == []


def test_only_post_to_the_callback_path_is_accepted() -> None:
    assert post(None, body(), method="GET")[0].status_code == 405
    assert post(None, body(), path="/elsewhere")[0].status_code == 404


def raw(request: bytes) -> bytes:
    """Send raw bytes to a fresh unsigned receiver; return its whole answer."""
    async def main() -> bytes:
        async with CallbackReceiver(None) as receiver:
            port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            answer = await reader.read()
            writer.close()
            return answer

    return asyncio.run(main())


def test_oversized_bodies_are_413_before_reading_them() -> None:
    answer = raw(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_body_without_content_length_is_411() -> None:
    answer = raw(b"POST /callback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 ")


def test_garbage_is_a_400_not_a_crash() -> None:
    assert raw(b"\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(b"HELLO\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_url_and_repr() -> None:
    receiver = CallbackReceiver(SECRET, port=0)
    assert "whsec" not in repr(receiver)

    async def main() -> str:
        async with receiver:
            return receiver.url

    url = asyncio.run(main())
    assert url.startswith("http://127.0.0.1:") and url.endswith("/callback")
    assert not url.startswith("http://127.0.0.1:0/")
