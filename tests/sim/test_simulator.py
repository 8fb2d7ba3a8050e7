"""The provider simulator over real loopback HTTP: protocols, limits, faults, images, callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from simkit import APIKLEY_CREATE, AUTH, FAST, MODELLIX_CREATE

from seedflow.errors import SeedflowError
from seedflow.sim import Fault, SimConfig, Simulator, parse_rate

MODEL = "bytedance/seedream-v4-text-to-image"


def apikley_body(**params: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": {"prompt": "a red fox in the snow", **params}}


def create_apikley(client: httpx.Client, **params: Any) -> str:
    response = client.post(APIKLEY_CREATE, json=apikley_body(**params))
    assert response.status_code == 200
    assert response.json()["code"] == 200
    task_id: str = response.json()["data"]["taskId"]
    return task_id


def create_modellix(client: httpx.Client, **body: Any) -> str:
    response = client.post(MODELLIX_CREATE, json={"prompt": "a lighthouse at dusk", **body})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def record(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id})
    assert response.status_code == 200
    assert response.json()["code"] == 200
    data: dict[str, Any] = response.json()["data"]
    return data


def result(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200
    assert response.json()["code"] == 0
    data: dict[str, Any] = response.json()["data"]
    return data


def until(poll: Callable[[], dict[str, Any]], key: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = poll()
        if data[key] in states:
            return data
        time.sleep(0.01)
    raise AssertionError(f"{key} never reached {states}")


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 5
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def finished_record(client: httpx.Client, task_id: str) -> dict[str, Any]:
    return until(lambda: record(client, task_id), "state", {"success", "fail"})


def finished_result(client: httpx.Client, task_id: str) -> dict[str, Any]:
    return until(lambda: result(client, task_id), "status", {"success", "failed"})


def png_size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


# Apikley


def test_apikley_states_progress_to_success() -> None:
    with Simulator(SimConfig(latency=1.0)) as sim, \
            httpx.Client(base_url=sim.base_url, headers=AUTH) as client:
        task_id = create_apikley(client)
        first = record(client, task_id)
        seen = [first["state"]]
        while seen[-1] != "success":
            time.sleep(0.05)
            seen.append(record(client, task_id)["state"])
    order = ["waiting", "queuing", "generating", "success"]
    assert task_id.startswith("task_bytedance_")
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert seen[0] in {"waiting", "queuing"} and {"generating", "success"} <= set(seen)
    assert first["resultJson"] == "" and first["costTime"] is None
    assert first["completeTime"] is None


def test_apikley_record_has_documented_shape(sim: Simulator, client: httpx.Client) -> None:
    body = apikley_body(image_size="landscape_16_9", image_resolution="2K", max_images=3, seed=7)
    task_id = client.post(APIKLEY_CREATE, json=body).json()["data"]["taskId"]
    data = finished_record(client, task_id)
    assert data["state"] == "success"
    assert data["taskId"] == task_id and data["model"] == MODEL
    assert isinstance(data["param"], str) and json.loads(data["param"]) == body
    assert isinstance(data["resultJson"], str)
    urls = json.loads(data["resultJson"])["resultUrls"]
    assert len(urls) == 3 and all(u.startswith(sim.base_url + "/files/") for u in urls)
    assert data["failCode"] == "" and data["failMsg"] == ""
    assert data["createTime"] <= data["updateTime"] == data["completeTime"]
    assert data["costTime"] == data["completeTime"] - data["createTime"]
    for url in urls:
        image = httpx.get(url)
        assert image.headers["content-type"] == "image/png"
        assert png_size(image.content) == (384, 216)


@pytest.mark.parametrize(("image_size", "expected"), [
    ("square_hd", (384, 384)),
    ("portrait_4_3", (288, 384)),
    ("landscape_21_9", (384, 165)),
    ("portrait_16_9", (216, 384)),
])
def test_apikley_image_aspect(client: httpx.Client, image_size: str,
                              expected: tuple[int, int]) -> None:
    task_id = create_apikley(client, image_size=image_size)
    url = json.loads(finished_record(client, task_id)["resultJson"])["resultUrls"][0]
    assert png_size(httpx.get(url).content) == expected


def test_apikley_schema_refusal_is_http_200_with_code_422(sim: Simulator,
                                                          client: httpx.Client) -> None:
    response = client.post(APIKLEY_CREATE, json=apikley_body(image_size="huge"))
    assert response.status_code == 200
    assert response.json()["code"] == 422 and response.json()["data"] is None
    assert "image_size" in response.json()["msg"]
    broken = client.post(APIKLEY_CREATE, content=b"{not json", headers=AUTH)
    assert (broken.status_code, broken.json()["code"]) == (200, 422)
    assert sim.counters.creates == 0 and sim.counters.create_requests == 2


def test_apikley_unknown_task_and_message_key(sim: Simulator, client: httpx.Client) -> None:
    unknown = client.get("/api/v1/jobs/recordInfo", params={"taskId": "task_bytedance_1"})
    assert unknown.status_code == 200
    assert unknown.json() == {"code": 404, "message": "Task not found", "data": None}
    missing = client.get("/api/v1/jobs/recordInfo")
    assert (missing.status_code, missing.json()["code"]) == (200, 422)
    sim.config.apikley_message_key = "message"
    refused = client.post(APIKLEY_CREATE, json={"model": MODEL}).json()
    assert refused["code"] == 422 and "message" in refused and "msg" not in refused


# Modellix


def test_modellix_create_and_result_shapes(sim: Simulator, client: httpx.Client) -> None:
    body = {"prompt": "a forest cabin", "size": "2560x1440",
            "sequential_image_generation": "auto", "sequential_image_generation_max_images": 3}
    created = client.post(MODELLIX_CREATE, json=body).json()
    assert created["code"] == 0 and created["message"] == "success"
    task_id = created["data"]["task_id"]
    assert task_id.startswith("task-") and created["data"]["status"] == "pending"
    assert created["data"]["model_id"] == "seedream-4.0-t2i"
    assert created["data"]["get_result"] == {"method": "GET",
                                             "url": f"{sim.base_url}/api/v1/tasks/{task_id}"}
    assert result(client, task_id)["status"] in {"pending", "processing"}
    data = finished_result(client, task_id)
    assert data["status"] == "success" and data["task_id"] == task_id
    resources = data["result"]["resources"]
    assert len(resources) == 3 == data["result"]["metadata"]["image_count"]
    assert data["result"]["metadata"]["request_id"]
    for resource in resources:
        assert {k: resource[k] for k in ("type", "format", "role", "width", "height")} == {
            "type": "image", "format": "png", "role": "primary", "width": 384, "height": 216}
        assert png_size(httpx.get(resource["url"]).content) == (384, 216)
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert iso.fullmatch(data["result"]["extensions"]["submit_time"])
    assert iso.fullmatch(data["result"]["extensions"]["end_time"])
    assert sim.tasks[task_id].request == body


@pytest.mark.parametrize(("body", "images"), [
    ({}, 1),
    ({"sequential_image_generation": "disabled", "sequential_image_generation_max_images": 4}, 1),
    ({"sequential_image_generation": "auto"}, 5),
])
def test_modellix_image_count(client: httpx.Client, body: dict[str, Any], images: int) -> None:
    data = finished_result(client, create_modellix(client, **body))
    assert len(data["result"]["resources"]) == images


@pytest.mark.parametrize(("size", "words"), [
    ("1024x768", "pixels"),
    ("8192x256", "aspect ratio"),
    ("1024", "format"),
])
def test_modellix_size_rules(sim: Simulator, client: httpx.Client, size: str, words: str) -> None:
    response = client.post(MODELLIX_CREATE, json={"prompt": "a", "size": size})
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["message"].startswith("Invalid format: parameter 'size' must")
    assert words in response.json()["message"]
    assert sim.counters.creates == 0


def test_modellix_schema_refusal_and_not_found(client: httpx.Client) -> None:
    refused = client.post(MODELLIX_CREATE, json={"prompt": "a", "seed": 3})
    assert refused.status_code == 400 and refused.json()["code"] == 400
    assert refused.json()["message"].startswith("Invalid parameter: ")
    missing = client.get("/api/v1/tasks/task-nope")
    assert missing.status_code == 404 and missing.json()["code"] == 404


# Auth, credits, rate limit


def test_auth() -> None:
    with Simulator(SimConfig(latency=FAST, api_key="right")) as sim, \
            httpx.Client(base_url=sim.base_url) as client:
        body = apikley_body()
        wrong = client.post(APIKLEY_CREATE, json=body, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and wrong.json()["code"] == 401
        assert client.post(APIKLEY_CREATE, json=body).status_code == 401
        modellix = client.post(MODELLIX_CREATE, json={"prompt": "a"})
        assert modellix.status_code == 401 and modellix.json()["message"].startswith("Unauthorized")
        right = client.post(APIKLEY_CREATE, json=body, headers={"Authorization": "Bearer right"})
        assert right.json()["code"] == 200
        assert sim.counters.creates == 1


def test_any_non_empty_key_without_api_key(client: httpx.Client) -> None:
    empty = client.post(APIKLEY_CREATE, json=apikley_body(), headers={"Authorization": "Bearer"})
    assert empty.status_code == 401
    other = client.post(MODELLIX_CREATE, json={"prompt": "a"},
                        headers={"Authorization": "Bearer x"})
    assert other.status_code == 200


def test_credits(sim: Simulator, client: httpx.Client) -> None:
    sim.config.credits = 1
    create_apikley(client)
    refused = client.post(APIKLEY_CREATE, json=apikley_body())
    assert refused.status_code == 402 and refused.json()["code"] == 402
    assert client.post(MODELLIX_CREATE, json={"prompt": "a"}).status_code == 402
    assert len(sim.tasks) == 1


def test_rate_limit_429_with_retry_after_and_nothing_recorded(sim: Simulator,
                                                               client: httpx.Client) -> None:
    sim.config.rate_limit = (2, 10.0)
    create_apikley(client)
    create_modellix(client)
    refused = client.post(APIKLEY_CREATE, json=apikley_body())
    assert refused.status_code == 429
    assert refused.json()["code"] == 429 and refused.json()["msg"] == "Rate limit exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    modellix = client.post(MODELLIX_CREATE, json={"prompt": "a"})
    assert modellix.status_code == 429 and modellix.json()["code"] == 429
    assert "Retry-After" in modellix.headers
    counters = sim.counters
    assert (counters.creates, counters.create_requests, counters.rejected_429) == (2, 4, 2)
    assert len(sim.tasks) == 2


def test_rate_window_slides(sim: Simulator, client: httpx.Client) -> None:
    sim.config.rate_limit = (1, 0.2)
    create_apikley(client)
    assert client.post(APIKLEY_CREATE, json=apikley_body()).status_code == 429
    time.sleep(0.25)
    create_apikley(client)


# Faults


def test_injected_429_then_normal(sim: Simulator, client: httpx.Client) -> None:
    sim.inject(Fault.HTTP_429, times=2)
    for _ in range(2):
        refused = client.post(MODELLIX_CREATE, json={"prompt": "a"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    create_modellix(client)
    counters = sim.counters
    assert counters.faults[Fault.HTTP_429] == 2 and counters.rejected_429 == 2
    assert counters.creates == 1


@pytest.mark.parametrize(("fault", "status", "code"), [
    (Fault.HTTP_500, 500, 500),
    (Fault.HTTP_503, 503, 455),
])
def test_apikley_5xx(sim: Simulator, client: httpx.Client, fault: Fault, status: int,
                     code: int) -> None:
    sim.inject(fault)
    response = client.post(APIKLEY_CREATE, json=apikley_body())
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert sim.counters.creates == 0 and sim.counters.faults[fault] == 1


def test_poll_faults(sim: Simulator, client: httpx.Client) -> None:
    task_id = create_modellix(client)
    sim.inject(Fault.HTTP_503, endpoint="poll")
    sim.inject(Fault.HTTP_500, endpoint="poll")
    first = client.get(f"/api/v1/tasks/{task_id}")
    assert first.status_code == 503 and first.json()["code"] == 503
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 500
    assert finished_result(client, task_id)["status"] == "success"


def test_drop_before_record(sim: Simulator, client: httpx.Client) -> None:
    sim.inject(Fault.DROP_BEFORE_RECORD)
    with pytest.raises(httpx.TransportError):
        client.post(APIKLEY_CREATE, json=apikley_body())
    assert sim.counters.creates == 0 and sim.tasks == {}
    create_apikley(client)


def test_drop_after_record_keeps_the_paid_task(sim: Simulator, client: httpx.Client) -> None:
    sim.inject(Fault.DROP_AFTER_RECORD)
    body = apikley_body(seed=42)
    with pytest.raises(httpx.TransportError):
        client.post(APIKLEY_CREATE, json=body)
    assert sim.counters.creates == 1
    [(task_id, task)] = sim.tasks.items()
    assert task.provider == "apikley" and task.request == body
    assert finished_record(client, task_id)["state"] == "success"


def test_slow_response_times_out_after_recording(sim: Simulator, client: httpx.Client) -> None:
    sim.config.slow_seconds = 3.0
    sim.inject(Fault.SLOW_RESPONSE)
    with pytest.raises(httpx.ReadTimeout):
        client.post(MODELLIX_CREATE, json={"prompt": "a"}, timeout=0.3)
    assert sim.counters.creates == 1 and sim.counters.faults[Fault.SLOW_RESPONSE] == 1


def test_generation_failed(sim: Simulator, client: httpx.Client) -> None:
    sim.inject(Fault.GENERATION_FAILED, times=2)
    apikley = finished_record(client, create_apikley(client))
    assert apikley["state"] == "fail" and apikley["failCode"] and apikley["failMsg"]
    assert apikley["resultJson"] == ""
    modellix = finished_result(client, create_modellix(client))
    assert modellix["status"] == "failed" and modellix["result"] is None
    assert modellix["error"]["code"] and modellix["error"]["message"]
    failed_id = modellix["task_id"]
    assert client.get(f"/files/{failed_id}/1.png").status_code == 404
    assert sim.counters.faults[Fault.GENERATION_FAILED] == 2


def test_fail_rate(sim: Simulator, client: httpx.Client) -> None:
    sim.config.fail_rate = 1.0
    assert finished_record(client, create_apikley(client))["state"] == "fail"
    assert sim.counters.faults[Fault.GENERATION_FAILED] == 0


def test_download_404_then_ok(sim: Simulator, client: httpx.Client) -> None:
    url = finished_result(client, create_modellix(client))["result"]["resources"][0]["url"]
    sim.inject(Fault.DOWNLOAD_404)
    assert httpx.get(url).status_code == 404
    assert httpx.get(url).status_code == 200
    assert sim.counters.downloads == 2 and sim.counters.faults[Fault.DOWNLOAD_404] == 1


def test_download_truncated(sim: Simulator, client: httpx.Client) -> None:
    task_id = create_apikley(client)
    url = json.loads(finished_record(client, task_id)["resultJson"])["resultUrls"][0]
    sim.inject(Fault.DOWNLOAD_TRUNCATED)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    whole = httpx.get(url)
    assert whole.status_code == 200 and png_size(whole.content) == (384, 384)
    assert sim.counters.faults[Fault.DOWNLOAD_TRUNCATED] == 1


def test_fault_rates_apply_at_every_endpoint(sim: Simulator, client: httpx.Client) -> None:
    task_id = create_apikley(client)
    sim.config.fault_rates = {Fault.HTTP_503: 1.0}
    assert client.post(APIKLEY_CREATE, json=apikley_body()).json()["code"] == 455
    assert client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}).status_code == 503
    sim.config.fault_rates = {}
    assert record(client, task_id)["taskId"] == task_id
    assert sim.counters.faults[Fault.HTTP_503] == 2


def test_inject_refuses_an_endpoint_the_fault_cannot_serve(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="download"):
        sim.inject(Fault.DROP_AFTER_RECORD, endpoint="download")


# Images, counters, determinism


def test_images_are_deterministic_and_show_the_request(client: httpx.Client) -> None:
    task_id = create_modellix(client, size="1296x3024")
    url = finished_result(client, task_id)["result"]["resources"][0]["url"]
    first, second = httpx.get(url).content, httpx.get(url).content
    assert first == second and png_size(first) == (165, 384)
    assert httpx.get(url.replace("/1.png", "/2.png")).status_code == 404


def test_counters(sim: Simulator, client: httpx.Client) -> None:
    task_id = create_apikley(client, max_images=2)
    urls = json.loads(finished_record(client, task_id)["resultJson"])["resultUrls"]
    for url in urls:
        httpx.get(url)
    counters = sim.counters
    assert (counters.creates, counters.create_requests, counters.downloads) == (1, 1, 2)
    assert counters.polls >= 1 and counters["polls"] == counters.polls
    assert set(counters.faults) == set(Fault) and not any(counters.faults.values())


def test_latency_spread_is_reproducible() -> None:
    def cost_times() -> list[int]:
        config = SimConfig(latency=FAST, latency_spread=0.5, seed=7)
        with Simulator(config) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as c:
            ids = [create_apikley(c) for _ in range(3)]
            return [finished_record(c, task_id)["costTime"] for task_id in ids]

    first = cost_times()
    assert first == cost_times() and len(set(first)) > 1


# Callbacks


class _Receiver(BaseHTTPRequestHandler):
    received: queue.Queue[tuple[dict[str, str], dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.put((dict(self.headers), body))
        reply = b'{"code":200,"msg":"success"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], dict[str, Any]]]]]:
    received: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    server.shutdown()
    server.server_close()


def test_signed_callbacks(sim: Simulator, client: httpx.Client,
                          receiver: tuple[str, queue.Queue[Any]]) -> None:
    url, received = receiver
    sim.config.callback_secret = "s3cret"
    body = {**apikley_body(max_images=2), "callBackUrl": url}
    task_id = client.post(APIKLEY_CREATE, json=body).json()["data"]["taskId"]
    headers, payload = received.get(timeout=5)
    assert payload["code"] == 200 and payload["data"]["taskId"] == task_id
    assert payload["data"]["state"] == "success"
    assert len(json.loads(payload["data"]["resultJson"])["resultUrls"]) == 2
    assert payload["data"]["creditsConsumed"] > 0
    timestamp = headers["X-Webhook-Timestamp"]
    digest = hmac.new(b"s3cret", f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    assert headers["X-Webhook-Signature"] == base64.b64encode(digest).decode()
    sim.inject(Fault.GENERATION_FAILED)
    client.post(APIKLEY_CREATE, json=body)
    _, failed = received.get(timeout=5)
    assert failed["code"] == 501 and failed["data"]["state"] == "fail"
    assert eventually(lambda: sim.counters.callbacks_sent == 2)


def test_unreachable_callback_is_counted(sim: Simulator, client: httpx.Client) -> None:
    body = {**apikley_body(), "callBackUrl": "http://127.0.0.1:9/nowhere"}
    client.post(APIKLEY_CREATE, json=body)
    assert eventually(lambda: sim.counters.callbacks_failed == 1)
    assert sim.counters.callbacks_sent == 0


# Lifecycle, the rate parser and the standalone server


def test_stop_cuts_keep_alive_connections() -> None:
    sim = Simulator(SimConfig(latency=FAST))
    sim.start()
    with httpx.Client(base_url=sim.base_url, headers=AUTH) as client:
        create_apikley(client)
        sim.stop()
        with pytest.raises(httpx.TransportError):
            client.post(APIKLEY_CREATE, json=apikley_body())
    assert sim.counters.creates == 1
    sim.stop()



def test_parse_rate() -> None:
    assert parse_rate("20/10s") == (20, 10.0)
    assert parse_rate("5/2.5s") == (5, 2.5)
    assert parse_rate("0") is None
    for bad in ("20", "0/10s", "20/0s", "fast", "-1/1s"):
        with pytest.raises(SeedflowError, match="COUNT/SECONDS"):
            parse_rate(bad)


def test_sim_serve_subprocess() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "seedflow", "sim", "serve", "--port", "0",
               "--latency", str(FAST), "--rate", "20/10s"]
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.fullmatch(r"seedflow sim listening on (http://127\.0\.0\.1:(\d+))\n", first)
        assert match and int(match[2]) > 0, first
        banner = "".join(iter(proc.stdout.readline, "Press Ctrl+C to stop.\n"))
        with httpx.Client(base_url=match[1], headers=AUTH, timeout=5) as client:
            assert finished_record(client, create_apikley(client))["state"] == "success"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"SEEDFLOW_APIKLEY_BASE_URL={match[1]}" in banner
    assert f"SEEDFLOW_MODELLIX_BASE_URL={match[1]}" in banner
    assert "stopped" in out
    assert "POST /api/v1/jobs/createTask 200" in err
