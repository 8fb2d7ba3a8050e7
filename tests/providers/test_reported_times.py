"""The generation time each provider reports (issue #13), which polling learns from: read from the
documented fields in their documented units, over real loopback HTTP from the simulator too, and
never believed or crashed on when it is missing, negative, absurd or not a number."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from seedflow.providers.apikley import client as apikley
from seedflow.providers.base import ProviderClient, TaskStatus, reported_seconds
from seedflow.providers.modellix import client as modellix
from seedflow.sim import SimConfig, Simulator

# FACTS.md, Apikley Get Task Details (documented example)
APIKLEY_RECORD: dict[str, Any] = {
    "taskId": "task_12345678", "state": "success",
    "resultJson": json.dumps({"resultUrls": ["https://example.com/generated-content.jpg"]}),
    "failCode": "", "failMsg": "", "costTime": 15000, "completeTime": 1698765432000,
    "createTime": 1698765400000, "updateTime": 1698765432000}
# FACTS.md, Modellix query-task-result (documented example)
MODELLIX_DATA: dict[str, Any] = {
    "status": "success", "task_id": "task-abc123", "duration": 3500,
    "result": {"resources": [{"url": "https://cdn.example.com/images/abc123.png"}],
               "extensions": {"submit_time": "2024-01-01T10:00:00Z",
                              "end_time": "2024-01-01T10:00:03Z"}}}

HOSTILE = [None, "", "soon", -1500, 0, True, [], {}, "nan", "inf", 10**400, 1e300,
           float("nan"), float("-inf")]


def test_apikley_reads_create_to_complete_in_milliseconds() -> None:
    """The documented record: completeTime − createTime = 32,000 ms (costTime, 15,000 ms, may
    leave out the queue a create waits through)."""
    state = apikley.task_state(APIKLEY_RECORD)
    assert state.status is TaskStatus.SUCCEEDED
    assert state.took == 32.0


def test_apikley_falls_back_to_cost_time_in_milliseconds() -> None:
    record = {**APIKLEY_RECORD, "completeTime": None}
    assert apikley.task_state(record).took == 15.0
    assert apikley.task_state({**record, "costTime": "15000"}).took == 15.0


@pytest.mark.parametrize("value", HOSTILE)
def test_apikley_ignores_times_it_cannot_believe(value: Any) -> None:
    record = {**APIKLEY_RECORD, "costTime": value, "completeTime": value}
    state = apikley.task_state(record)
    assert state.status is TaskStatus.SUCCEEDED and state.image_urls
    assert state.took is None


def test_apikley_a_complete_time_before_the_create_is_not_believed() -> None:
    record = {**APIKLEY_RECORD, "completeTime": APIKLEY_RECORD["createTime"] - 5000}
    assert apikley.task_state(record).took == 15.0   # the span is negative: costTime instead


def test_modellix_reads_duration_in_milliseconds() -> None:
    assert modellix.task_state(MODELLIX_DATA).took == 3.5


def test_modellix_falls_back_to_the_extensions_times() -> None:
    assert modellix.task_state({**MODELLIX_DATA, "duration": None}).took == 3.0


@pytest.mark.parametrize("value", HOSTILE)
def test_modellix_ignores_times_it_cannot_believe(value: Any) -> None:
    data = {**MODELLIX_DATA, "duration": value,
            "result": {**MODELLIX_DATA["result"],
                       "extensions": {"submit_time": value, "end_time": "yesterday"}}}
    state = modellix.task_state(data)
    assert state.status is TaskStatus.SUCCEEDED and state.image_urls
    assert state.took is None


def test_reported_seconds_takes_units_and_refuses_a_day_or_more() -> None:
    assert reported_seconds(2500, unit=0.001) == 2.5
    assert reported_seconds("2.5") == 2.5
    assert reported_seconds(24 * 3600) == 24 * 3600.0
    assert reported_seconds(24 * 3600 + 1) is None


async def _finished_task(provider: str, sim: Simulator) -> float | None:
    spec = {"apikley": (apikley.ApikleyClient, apikley.CREATE_PATH,
                        {"model": "bytedance/seedream-v4-text-to-image",
                         "input": {"prompt": "a red bicycle", "image_size": "square_hd"}}),
            "modellix": (modellix.ModellixClient, modellix.CREATE_PATH,
                         {"prompt": "a red bicycle", "size": "1024x1024"})}
    kind, _, request = spec[provider]
    client: ProviderClient = kind(httpx.AsyncClient(), base_url=sim.base_url, api_key="k")
    try:
        task_id = await client.submit(request)
        while (state := await client.fetch(task_id)).status is not TaskStatus.SUCCEEDED:
            await asyncio.sleep(0.02)
        return state.took
    finally:
        await client.aclose()


@pytest.mark.parametrize("provider", ["apikley", "modellix"])
def test_the_simulator_reports_the_generation_time_as_the_service_does(provider: str) -> None:
    with Simulator(SimConfig(latency=0.25)) as sim:
        assert asyncio.run(_finished_task(provider, sim)) == 0.25


@pytest.mark.parametrize("provider", ["apikley", "modellix"])
def test_a_simulator_that_reports_nothing_gives_no_time(provider: str) -> None:
    with Simulator(SimConfig(latency=0.05, report_times=False)) as sim:
        assert asyncio.run(_finished_task(provider, sim)) is None
