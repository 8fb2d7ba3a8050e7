"""The simulator's documented answers (``Answer``, and the ``SimConfig`` answer knobs) over real
loopback HTTP: every status word and error shape a client must understand (issue 12), in each
protocol's own shape."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from simkit import FAST, MODELLIX_CREATE

from seedflow.sim import ENDPOINTS, Answer, Fault, SimConfig, Simulator

KEY = "sk-sim-answers-key-0001"
AUTH = {"Authorization": f"Bearer {KEY}"}
APIKLEY_CREATE = "/api/v1/jobs/createTask"
APIKLEY_BODY = {"model": "bytedance/seedream-v4-text-to-image",
                "input": {"prompt": "a red fox in the snow", "image_size": "square_hd"}}
MODELLIX_BODY = {"prompt": "a lighthouse at dusk", "size": "2048x2048"}


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    """This file's key (the conftest's client uses another): some answers quote it back."""
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as http:
        yield http


def create(client: httpx.Client, protocol: str) -> str:
    if protocol == "apikley":
        answer = client.post(APIKLEY_CREATE, json=APIKLEY_BODY).json()
        return str(answer["data"]["taskId"])
    return str(client.post(MODELLIX_CREATE, json=MODELLIX_BODY).json()["data"]["task_id"])


def poll(client: httpx.Client, protocol: str, task_id: str) -> httpx.Response:
    if protocol == "apikley":
        return client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id})
    return client.get(f"/api/v1/tasks/{task_id}")


def finished(client: httpx.Client, protocol: str, task_id: str) -> httpx.Response:
    time.sleep(FAST * 1.5)
    return poll(client, protocol, task_id)


def test_every_answer_has_its_endpoints() -> None:
    assert {a: ENDPOINTS[a] for a in Answer} == {
        Answer.UNAUTHORIZED: ("create", "poll"), Answer.INVALID_PARAMETER: ("create",),
        Answer.NO_RESULT: ("create",)}


# --- status words ------------------------------------------------------------------------------

def test_modellix_serves_the_words_its_official_cli_accepts(sim: Simulator,
                                                            client: httpx.Client) -> None:
    sim.config.latency = 0.4
    sim.config.state_words = {"processing": "running", "success": "completed"}
    task_id = create(client, "modellix")
    time.sleep(0.15)
    assert poll(client, "modellix", task_id).json()["data"]["status"] == "running"
    time.sleep(0.35)
    data = poll(client, "modellix", task_id).json()["data"]
    assert data["status"] == "completed"
    assert data["result"]["resources"][0]["url"].startswith(sim.base_url + "/files/")
    assert sim.tasks[task_id].state == "success"  # the simulator's own word


def test_a_failed_task_can_say_error(sim: Simulator, client: httpx.Client) -> None:
    sim.config.state_words = {"failed": "error"}
    sim.inject(Fault.GENERATION_FAILED)
    task_id = create(client, "modellix")
    data = finished(client, "modellix", task_id).json()["data"]
    assert data["status"] == "error"
    assert data["error"]["code"] == "generation_failed"


def test_apikley_can_serve_a_word_no_documentation_lists(sim: Simulator,
                                                         client: httpx.Client) -> None:
    sim.config.latency = 0.4
    sim.config.state_words = {"generating": "processing"}
    task_id = create(client, "apikley")
    time.sleep(0.2)
    assert poll(client, "apikley", task_id).json()["data"]["state"] == "processing"


# --- failures ----------------------------------------------------------------------------------

def test_apikley_can_answer_a_failed_task_with_body_code_501(sim: Simulator,
                                                             client: httpx.Client) -> None:
    sim.config.apikley_fail_code = 501
    sim.inject(Fault.GENERATION_FAILED)
    task_id = create(client, "apikley")
    response = finished(client, "apikley", task_id)
    answer = response.json()
    assert (response.status_code, answer["code"], answer["msg"]) == (200, 501,
                                                                     "Generation failed")
    assert answer["data"]["state"] == "fail"
    assert answer["data"]["failMsg"].endswith("(simulated failure)")


@pytest.mark.parametrize("status", [200, 500])
def test_apikley_refuses_a_parameter_with_body_code_500(sim: Simulator, client: httpx.Client,
                                                        status: int) -> None:
    sim.config.apikley_refusal_status = status
    sim.inject(Answer.INVALID_PARAMETER)
    response = client.post(APIKLEY_CREATE, json=APIKLEY_BODY)
    assert response.status_code == status
    assert response.json() == {"code": 500, "data": None,
                               "msg": "image_size is not within the range of allowed options"}
    assert sim.counters.creates == 0 and sim.counters.create_requests == 1
    assert sim.counters.answers[Answer.INVALID_PARAMETER] == 1


def test_modellix_refuses_a_parameter_with_400(sim: Simulator, client: httpx.Client) -> None:
    sim.inject(Answer.INVALID_PARAMETER)
    response = client.post(MODELLIX_CREATE, json=MODELLIX_BODY)
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["message"].startswith("Invalid parameter: ")
    assert sim.counters.creates == 0


@pytest.mark.parametrize("protocol", ["apikley", "modellix"])
def test_a_task_can_succeed_without_a_result(sim: Simulator, client: httpx.Client,
                                             protocol: str) -> None:
    sim.inject(Answer.NO_RESULT)
    task_id = create(client, protocol)
    data = finished(client, protocol, task_id).json()["data"]
    if protocol == "apikley":
        assert (data["state"], data["resultJson"], data["failMsg"]) == ("success", "", "")
    else:
        assert (data["status"], data["result"]) == ("success", None)
    assert sim.tasks[task_id].no_result and not sim.tasks[task_id].fails
    assert client.get(f"/files/{task_id}/1.png").status_code == 404
    # the outcome travels in the portable id: another simulator answers the same
    with Simulator(SimConfig(latency=FAST)) as other, \
            httpx.Client(base_url=other.base_url, headers=AUTH, timeout=5) as again:
        assert poll(again, protocol, task_id).json()["data"] == data


# --- not found, not authorised -----------------------------------------------------------------

@pytest.mark.parametrize(("protocol", "status", "body"), [
    ("apikley", 200, {"code": 422, "msg": "recordInfo is null", "data": None}),
    ("modellix", 404, None)])
def test_a_task_just_created_can_be_unseen_for_a_while(sim: Simulator, client: httpx.Client,
                                                       protocol: str, status: int,
                                                       body: dict[str, Any] | None) -> None:
    sim.config.not_found_for = 0.3
    task_id = create(client, protocol)
    early = poll(client, protocol, task_id)
    assert early.status_code == status
    if body is not None:
        assert early.json() == body
    time.sleep(0.35)
    assert poll(client, protocol, task_id).status_code == 200


@pytest.mark.parametrize("protocol", ["apikley", "modellix"])
def test_a_key_revoked_mid_run_answers_401_to_polls(sim: Simulator, client: httpx.Client,
                                                    protocol: str) -> None:
    task_id = create(client, protocol)
    sim.inject(Answer.UNAUTHORIZED, endpoint="poll")
    refused = poll(client, protocol, task_id)
    assert refused.status_code == 401 and refused.json()["code"] == 401
    assert poll(client, protocol, task_id).status_code == 200
    assert sim.counters.answers[Answer.UNAUTHORIZED] == 1


# --- a careless provider -----------------------------------------------------------------------

def test_echo_key_quotes_the_key_in_every_message(sim: Simulator, client: httpx.Client) -> None:
    sim.config.echo_key = True
    sim.inject(Fault.GENERATION_FAILED, times=2)
    apikley, modellix = create(client, "apikley"), create(client, "modellix")
    record = finished(client, "apikley", apikley).json()["data"]
    assert KEY in record["failMsg"] and KEY in record["failCode"]
    error = finished(client, "modellix", modellix).json()["data"]["error"]
    assert KEY in error["message"] and KEY in error["code"]
    sim.inject(Fault.HTTP_500)
    assert KEY in client.post(MODELLIX_CREATE, json=MODELLIX_BODY).json()["message"]
    sim.config.apikley_fail_code = 501
    assert KEY in json.loads(poll(client, "apikley", apikley).content)["msg"]
