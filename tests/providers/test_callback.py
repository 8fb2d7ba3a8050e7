"""The callback receiver: signed, unsigned, bad and stale callbacks, the state they carry, and
what a hostile sender can make it hold (memory, time, connections) and leave behind at exit."""

from __future__ import annotations

import asyncio
import json
import select
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from callbackkit import (
    ReceiverProcess,
    answer,
    attempt,
    callback,
    connect,
    declared_too_big,
    drained,
    exchange,
    post_request,
)
from hostile import answered

from seedflow.apply.wakeups import EARLY
from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import TaskState, TaskStatus
from seedflow.providers.callback import CallbackReceiver, Limits, plausible, signature
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
    body(RECORD | {"resultJson": "{not json"})])
def test_unreadable_callbacks_are_400(content: bytes) -> None:
    response, events = post(None, content)
    assert response.status_code == 400
    assert events == []


def test_only_post_to_the_callback_path_is_accepted() -> None:
    assert post(None, body(), method="GET")[0].status_code == 405
    assert post(None, body(), path="/elsewhere")[0].status_code == 404


def raw(request: bytes, limits: Limits | None = None) -> bytes:
    """Send raw bytes to a fresh unsigned receiver; return its whole answer."""
    async def main() -> bytes:
        async with CallbackReceiver(None, limits=limits) as receiver:
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


# --- what a sender can make it hold: every bound, over real loopback HTTP ---------------------

SMALL = Limits(header_time=0.5, body_time=0.5, connections=8)
"""Short timeouts, few connections: the same code paths as the defaults, in less time."""


def test_headers_over_the_limit_are_431() -> None:
    answer = raw(b"POST /callback HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("task_id", ["../../etc/passwd", "task 1", "<script>", "tâche",
                                     "-option", "task\n1", "t" * 4097])
def test_an_implausible_task_id_is_refused_and_never_delivered(task_id: str) -> None:
    response, events = post(None, body(RECORD | {"taskId": task_id}))
    assert response.status_code == 400
    assert response.json() == {"code": 400, "msg": "data.taskId is not a task id"}
    assert events == []


def test_the_task_ids_providers_issue_are_plausible() -> None:
    assert plausible("281e5b0d9ff73c1e0d4b4a3b5b0c6f0e")          # kie.ai
    assert plausible("task_bytedance_s1ePmqA4wco4mniktKUz-LzkX2W")  # the simulator's
    assert plausible("t" * 4096)
    assert not plausible("t" * 4097)


@pytest.mark.parametrize("content", [
    b'{"data": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    body(RECORD | {"resultJson": "[" * 30_000 + "]" * 30_000})])
def test_deeply_nested_json_is_a_400_not_a_crash(content: bytes) -> None:
    response, events = post(None, content)
    assert response.status_code == 400
    assert events == []


def test_callbacks_beyond_the_pending_limit_are_503() -> None:
    async def main() -> tuple[list[int], int]:
        async with CallbackReceiver(None, limits=Limits(pending=2)) as receiver, \
                httpx.AsyncClient() as http:
            codes = [(await http.post(receiver.url, content=body(RECORD | {"taskId": f"t{n}"}))
                      ).status_code for n in range(3)]
            return codes, receiver.events.qsize()

    assert asyncio.run(main()) == ([200, 200, 503], 2)


def test_one_connection_carries_several_callbacks() -> None:
    async def main() -> tuple[list[str], int]:
        async with CallbackReceiver(None) as receiver, httpx.AsyncClient() as http:
            for n in range(3):
                response = await http.post(receiver.url,
                                           content=body(RECORD | {"taskId": f"task_{n}"}))
                assert response.status_code == 200
            delivered = [receiver.events.get_nowait()[0] for _ in range(3)]
            return delivered, receiver.connections

    assert asyncio.run(main()) == (["task_0", "task_1", "task_2"], 1)


def test_forged_callbacks_with_huge_task_ids_leave_memory_bounded() -> None:
    with ReceiverProcess() as receiver:
        port = receiver.port
        assert exchange(port, post_request(callback("warm-up"))).startswith(b"HTTP/1.1 200 ")
        before = receiver.rss()
        huge = callback("t" * (1 << 20))    # 400 callbacks with 1 MB task ids: refused unread
        for _ in range(400):
            assert declared_too_big(port, huge).startswith(b"HTTP/1.1 413 ")
        near = callback("t" * 60_000)       # under the body limit, but no task id
        for _ in range(400):
            assert exchange(port, post_request(near)).startswith(b"HTTP/1.1 400 ")
        for n in range(1000):               # plausible ids of tasks nobody polls
            forged = callback(f"task_{n:04d}" + "x" * 4000)
            assert exchange(port, post_request(forged)).startswith(b"HTTP/1.1 200 ")
        state = receiver.state()
        grown = receiver.rss() - before

    assert state == {"events": 0, "connections": 0, "remembered": EARLY}
    assert grown < 16 << 20, f"the receiver grew by {grown >> 20} MB"


def test_a_connection_that_sends_its_headers_slowly_is_closed_after_5_seconds() -> None:
    with ReceiverProcess() as receiver:   # the default limits
        silent = connect(receiver.port)
        slow = connect(receiver.port)
        started = time.monotonic()
        slow.sendall(b"POST /callback HTTP/1.1\r\n")
        for _ in range(8):   # a header line every half second, for 4 s: no time is gained
            time.sleep(0.5)
            slow.sendall(b"X-Slow: loris\r\n")
        answer = drained(slow)
        took = time.monotonic() - started
        assert drained(silent) == b""
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 4.5 < took < 8
    assert waited < 8


def test_a_slow_body_and_an_idle_keep_alive_connection_are_closed_in_time() -> None:
    with ReceiverProcess(SMALL) as receiver:
        slow = connect(receiver.port)
        idle = connect(receiver.port)
        started = time.monotonic()
        slow.sendall(post_request(callback("task_1"))[:-10])   # all but the body's last bytes
        idle.sendall(post_request(callback("task_2"), close=False))
        assert answer(idle).startswith(b"HTTP/1.1 200 ")
        assert drained(slow).startswith(b"HTTP/1.1 408 ")
        assert drained(idle) == b""
        took = time.monotonic() - started

    assert took < 3


def test_a_flood_of_connections_is_capped_and_the_receiver_keeps_serving() -> None:
    limits = Limits(connections=8, header_time=30.0)
    with ReceiverProcess(limits) as receiver:
        port = receiver.port
        before = receiver.descriptors()
        flood = [connect(port) for _ in range(200)]
        turned_away: list[socket.socket] = []
        deadline = time.monotonic() + 5.0
        while len(turned_away) < len(flood) - 8 and time.monotonic() < deadline:
            waiting = [s for s in flood if s not in turned_away]
            turned_away += select.select(waiting, [], [], 0.1)[0]
        state = receiver.state()
        wait_until(lambda: receiver.descriptors() - before <= 8 + 2, timeout=5.0)
        busy = attempt(port, post_request(callback("task_1")))   # while full
        answers = {drained(s)[:21] for s in turned_away}
        for sock in flood:
            sock.close()
        wait_until(lambda: receiver.state()["connections"] == 0)
        after = exchange(port, post_request(callback("task_2")))

    assert len(turned_away) == len(flood) - 8
    assert answers == {b"HTTP/1.1 503 Service "}
    assert state["connections"] == 8
    assert busy == b"" or busy.startswith(b"HTTP/1.1 503 ")
    assert after.startswith(b"HTTP/1.1 200 ")


def test_a_burst_of_connections_never_takes_the_last_descriptors() -> None:
    # every connection arrives before the receiver accepts any, so one accept round meets
    # them all; with 32 descriptors, accepting them before turning them away runs out
    limits = Limits(connections=8, header_time=30.0)
    with ReceiverProcess(limits, descriptors=32) as receiver:
        port = receiver.port
        receiver.proc.send_signal(signal.SIGSTOP)
        try:
            flood = [connect(port) for _ in range(90)]   # within the listen backlog
        finally:
            receiver.proc.send_signal(signal.SIGCONT)
        turned_away = answered(flood, len(flood) - 8, within=10.0)
        after = attempt(port, post_request(callback("task_1")))
        for sock in flood:
            sock.close()
        wait_until(lambda: receiver.state()["connections"] == 0)
        later = exchange(port, post_request(callback("task_2")))
        code, err, _ = receiver.stop()

    assert len(turned_away) == len(flood) - 8
    assert after == b"" or after.startswith(b"HTTP/1.1 503 ")
    assert later.startswith(b"HTTP/1.1 200 ")
    assert (code, err) == (0, "")


def test_stopping_with_connections_open_prints_nothing() -> None:
    with ReceiverProcess(Limits(connections=4)) as receiver:
        port = receiver.port
        silent = connect(port)
        headers = connect(port)
        headers.sendall(b"POST /callback HTTP/1.1\r\nHost: x\r\n")
        partial = connect(port)
        partial.sendall(post_request(callback("task_1"))[:-5])
        kept = connect(port)
        kept.sendall(post_request(callback("task_2"), close=False))
        assert answer(kept).startswith(b"HTTP/1.1 200 ")
        over = connect(port)
        assert receiver.state()["connections"] == 4
        code, err, took = receiver.stop()
        ends = [drained(s) for s in (silent, headers, partial, kept)]
        refused = drained(over)

    assert (code, err) == (0, "")
    assert took < 2.0
    assert ends == [b""] * 4   # closed, nothing more said
    assert refused.startswith(b"HTTP/1.1 503 ")


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
