"""Simulated tasks outlive the simulator that made them: a task id describes its task, so another
simulator (a later apply's, on another port) answers polls and downloads as the first would
have; an id that is not one of ours, whatever it holds, gets the protocol's "not found"."""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from seedflow.sim import Fault, SimConfig, Simulator, wire
from seedflow.sim.wire import ID_MAX, MARK, Task, new_task

AUTH = {"Authorization": "Bearer test-key"}
MODEL = "bytedance/seedream-v4-text-to-image"
APIKLEY_BODY = {"model": MODEL, "input": {"prompt": "a red fox in the snow", "max_images": 2,
                                          "image_size": "landscape_16_9", "seed": 7}}
MODELLIX_BODY = {"prompt": "a lighthouse at dusk", "size": "3024x1296",
                 "sequential_image_generation": "auto",
                 "sequential_image_generation_max_images": 2}


class Protocol:
    """One protocol's create, poll and answer shapes, for tests that run over both."""

    def __init__(self, name: str, prefix: str, create: str, body: dict[str, Any]) -> None:
        self.name, self.prefix, self.create_path, self.body = name, prefix, create, body

    def create(self, client: httpx.Client) -> str:
        data = client.post(self.create_path, json=self.body).json()["data"]
        task_id: str = data["taskId" if self.name == "apikley" else "task_id"]
        return task_id

    def poll(self, client: httpx.Client, task_id: str) -> httpx.Response:
        if self.name == "apikley":
            return client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id})
        return client.get(f"/api/v1/tasks/{quote(task_id, safe='')}")  # as the client does

    def state(self, client: httpx.Client, task_id: str) -> tuple[str, list[str]]:
        """The task's state in this protocol's words, and its image URLs once it succeeded."""
        data = self.poll(client, task_id).json()["data"]
        if self.name == "apikley":
            urls = json.loads(data["resultJson"])["resultUrls"] if data["resultJson"] else []
            return data["state"], urls
        result = data["result"] or {"resources": []}
        return data["status"], [r["url"] for r in result["resources"]]

    def assert_not_found(self, response: httpx.Response, task_id: str) -> None:
        """The protocol's own answer to an unknown task."""
        if self.name == "apikley":
            assert (response.status_code, response.json()) == (
                200, {"code": 404, "message": "Task not found", "data": None})
        else:
            assert response.status_code == 404
            assert response.json() == {
                "code": 404, "message": f"Not found: task '{task_id}' does not exist"}


APIKLEY = Protocol("apikley", "task_bytedance_", "/api/v1/jobs/createTask", APIKLEY_BODY)
MODELLIX = Protocol("modellix", "task-", "/api/v1/bytedance/seedream-4.0-t2i", MODELLIX_BODY)
PROTOCOLS = [pytest.param(APIKLEY, id="apikley"), pytest.param(MODELLIX, id="modellix")]
DONE = {"success", "fail", "failed"}


@pytest.fixture
def start() -> Iterator[Callable[..., Simulator]]:
    """Start simulators (stopped at the end; stopping one early is allowed)."""
    started: list[Simulator] = []

    def run(**config: Any) -> Simulator:
        simulator = Simulator(SimConfig(**config))
        simulator.start()
        started.append(simulator)
        return simulator

    yield run
    for simulator in started:
        simulator.stop()


def connect(sim: Simulator) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5)


def until_done(protocol: Protocol, client: httpx.Client, task_id: str) -> tuple[str, list[str]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state, urls = protocol.state(client, task_id)
        if state in DONE:
            return state, urls
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} never finished")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_later_simulator_resumes_a_task_and_serves_the_same_images(
        protocol: Protocol, start: Callable[..., Simulator]) -> None:
    first = start(latency=0.6)
    first_url = first.base_url
    with connect(first) as client:
        task_id = protocol.create(client)
        begun = client.get(f"/files/{task_id}/1.png")
    first.stop()
    assert begun.status_code == 404  # not generated yet
    assert len(task_id) < 200 and task_id.startswith(protocol.prefix + MARK)

    second = start(latency=30.0)  # its own latency does not matter: the task carries its own
    assert second.base_url != first_url
    with connect(second) as client:
        state, _ = protocol.state(client, task_id)
        assert state not in DONE
        state, urls = until_done(protocol, client, task_id)
        assert state == "success"
        assert len(urls) == 2 and all(u.startswith(second.base_url + "/files/") for u in urls)
        images = [client.get(url) for url in urls]
    assert [r.status_code for r in images] == [200, 200]
    assert images[0].content != images[1].content
    assert second.counters.creates == 0 and second.tasks == {}

    third = start(latency=0.05)  # and a third serves the very same bytes
    with connect(third) as client:
        again = [client.get(url.replace(second.base_url, third.base_url)) for url in urls]
    assert [r.content for r in again] == [r.content for r in images]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_maker_and_a_later_simulator_give_the_same_answers(
        protocol: Protocol, start: Callable[..., Simulator]) -> None:
    first = start(latency=0.05)
    with connect(first) as client:
        task_id = protocol.create(client)
        until_done(protocol, client, task_id)
        made = protocol.poll(client, task_id).json()
        urls = protocol.state(client, task_id)[1]
        image = client.get(urls[0]).content
    later = start(latency=0.05, port=0)
    with connect(later) as client:
        answer = protocol.poll(client, task_id).json()
        later_image = client.get(urls[0].replace(first.base_url, later.base_url)).content
    assert json.loads(json.dumps(answer).replace(later.base_url, first.base_url)) == made
    assert later_image == image


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_injected_failed_generation_stays_failed_for_a_later_simulator(
        protocol: Protocol, start: Callable[..., Simulator]) -> None:
    first = start(latency=0.05)
    first.inject(Fault.GENERATION_FAILED)
    with connect(first) as client:
        failing, fine = protocol.create(client), protocol.create(client)
    first.stop()
    second = start(latency=0.05)
    with connect(second) as client:
        assert until_done(protocol, client, failing)[0] in {"fail", "failed"}
        assert until_done(protocol, client, fine)[0] == "success"
        assert client.get(f"/files/{failing}/1.png").status_code == 404


def token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode().rstrip("=")


def forged_ids(protocol: Protocol, genuine: str) -> dict[str, str]:
    head = protocol.prefix + MARK
    other = MODELLIX if protocol is APIKLEY else APIKLEY
    middle = len(genuine) // 2
    flipped = "B" if genuine[middle] == "A" else "A"
    return {
        "empty after the prefix": head,
        "damaged": genuine[:middle] + flipped + genuine[middle + 1:],
        "cut short": genuine[:-4],
        "one character too long": head + "A" * (ID_MAX - len(head) + 1),
        "not the id alphabet": head + "../../files/x",
        "not base64": head + "A",
        "an id that was never portable": protocol.prefix + "1765176547151",
        "the other protocol's": other.prefix + genuine[len(protocol.prefix):],
        "an inflation bomb": head + token(b'{"p":"' + b" " * 20_000_000 + b'"}'),
        "not an object": head + token(b"[1, 2, 3]"),
        "deeply nested": head + token(b"[" * 100_000),
        "not JSON": head + token(b"\xff\xfe garbage"),
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_id_that_is_not_ours_is_not_found(protocol: Protocol,
                                             start: Callable[..., Simulator]) -> None:
    sim = start(latency=0.0)
    with connect(sim) as client:
        genuine = protocol.create(client)
        for what, task_id in forged_ids(protocol, genuine).items():
            assert len(task_id) <= 60_000, what  # within the HTTP server's request line
            protocol.assert_not_found(protocol.poll(client, task_id), task_id)
            download = client.get(f"/files/{task_id}/1.png")
            assert download.status_code == 404, what
        assert protocol.state(client, genuine)[0] == "success"  # the server is unharmed
    assert sim.counters.creates == 1


@pytest.mark.parametrize(("protocol", "request_body", "images"), [
    pytest.param(APIKLEY, {"model": MODEL, "input": {"max_images": 2}}, 2, id="apikley-no-prompt"),
    pytest.param(APIKLEY, APIKLEY_BODY, 3, id="apikley-wrong-image-count"),
    pytest.param(MODELLIX, {"prompt": "x", "size": "abc"}, 1, id="modellix-bad-size"),
    pytest.param(MODELLIX, {"prompt": "x", "size": "10x10"}, 1, id="modellix-too-small"),
])
def test_a_well_formed_id_of_a_request_the_protocol_refuses_is_not_found(
        protocol: Protocol, request_body: dict[str, Any], images: int,
        start: Callable[..., Simulator]) -> None:
    """An id anyone can write from the source must still hold a request a create would have
    accepted: the images are drawn from it."""
    forged = new_task(protocol.prefix, protocol.name, request_body, images, started=0.0,
                      latency=0.0, fails=False)
    assert forged.portable
    sim = start(latency=0.0)
    with connect(sim) as client:
        protocol.assert_not_found(protocol.poll(client, forged.id), forged.id)
        assert client.get(f"/files/{forged.id}/1.png").status_code == 404


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_id_made_in_the_future_is_not_found(protocol: Protocol,
                                               start: Callable[..., Simulator],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Else a forged id could keep an apply polling a task that never finishes."""
    tomorrow = (time.time_ns() // 1000) + 86_400_000_000
    monkeypatch.setattr(wire, "unique_number", lambda: tomorrow)
    forged = new_task(protocol.prefix, protocol.name, protocol.body, 2, started=0.0,
                      latency=0.0, fails=False)
    monkeypatch.undo()
    sim = start(latency=0.0)
    with connect(sim) as client:
        protocol.assert_not_found(protocol.poll(client, forged.id), forged.id)


def test_the_longest_prompt_still_makes_an_id_a_later_simulator_reads(
        start: Callable[..., Simulator]) -> None:
    """The worst case for ID_MAX: Modellix' 10,000-character prompt, of characters that do not
    compress; its id still fits in a poll's request line."""
    noise = random.Random(7)
    prompt = "".join(chr(noise.randrange(0x10000, 0x30000)) for _ in range(10_000))
    body = {**MODELLIX_BODY, "prompt": prompt}
    first = start(latency=0.0)
    with connect(first) as client:
        task_id = client.post(MODELLIX.create_path, json=body).json()["data"]["task_id"]
    first.stop()
    assert 30_000 < len(task_id) <= ID_MAX
    with connect(start(latency=0.0)) as client:
        assert MODELLIX.state(client, task_id)[0] == "success"
        assert client.get(f"/files/{task_id}/2.png").status_code == 200


def test_a_request_too_large_to_describe_gets_a_plain_id(
        start: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch) -> None:
    """No request the schemas allow comes near ID_MAX; one that did would still be served by
    the simulator that made it, its images described in their URLs (``?r=``) instead."""
    monkeypatch.setattr(wire, "ID_MAX", 40)
    sim = start(latency=0.0)
    with connect(sim) as client:
        task_id = APIKLEY.create(client)
        state, urls = APIKLEY.state(client, task_id)
        assert re.fullmatch(r"task_bytedance_\d+", task_id)
        assert state == "success" and all("?r=" in url for url in urls)
        assert [client.get(url).status_code for url in urls] == [200, 200]


def test_an_image_url_of_an_earlier_run_is_served_and_a_forged_one_refused(
        start: Callable[..., Simulator]) -> None:
    """Locks written before ids were portable hold ``/files/ID/N.png?r=TOKEN`` URLs."""
    earlier = Task(id="task_bytedance_1765176547151", provider="apikley", request=APIKLEY_BODY,
                   images=2, created_ms=0, started=-math.inf, latency=0.0, fails=False)
    url = earlier.file_urls("http://127.0.0.1:1")[1]
    assert "?r=" in url
    sim = start(latency=0.0)
    with connect(sim) as client:
        assert client.get(url.replace("http://127.0.0.1:1", sim.base_url)).status_code == 200
        bad_size = token(b'{"n":1,"p":"modellix","r":{"prompt":"x","size":"abc"}}')
        assert client.get(f"/files/task-1/1.png?r={bad_size}").status_code == 404
        bomb = token(b'{"p":"' + b" " * 20_000_000 + b'"}')
        assert client.get(f"/files/task-1/1.png?r={bomb}").status_code == 404
