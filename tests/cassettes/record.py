"""Re-record the provider cassettes in this folder from the simulator.

    python tests/cassettes/record.py          # from the repository root; needs no key

Each scenario starts the simulator, drives the real client (``ApikleyClient`` /
``ModellixClient``) through it under vcrpy (``record_mode="all"``,
``filter_headers=["authorization"]``), then rewrites the cassette so that it reads like the real
provider: the loopback address becomes ``https://api.apikley.ru`` / ``https://api.modellix.ai``,
task ids, times and result URLs become the values of the examples documented in
``provider-docs/FACTS.md`` (``task_bytedance_1765176547151``, ``task-def456``,
``https://example.com/generated-content.jpg`` ...), and the simulator's ``Server``/``Date``
headers are dropped. ``tests/providers/test_cassettes.py`` replays them (``record_mode="none"``)
through the clients configured with the real base URLs, and checks that no cassette holds an
Authorization header or a key.

Polls are spaced against the simulator's generation time so that each cassette shows every
state in order (Apikley waiting → generating → success; Modellix pending → processing →
success). Re-record after changing what the clients send or how the simulator answers.

``published/`` is not recorded and not rewritten here: those cassettes are written by hand from
the shapes the providers, their official clients and integrators publish, each answer citing
its ``source`` (they check the clients against more than our simulator's beliefs).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import vcr
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from seedflow.providers.apikley.client import ApikleyClient  # noqa: E402
from seedflow.providers.base import ProviderClient  # noqa: E402
from seedflow.providers.errors import ProviderError  # noqa: E402
from seedflow.providers.modellix.client import ModellixClient  # noqa: E402
from seedflow.sim import Fault, SimConfig, Simulator  # noqa: E402

HERE = Path(__file__).resolve().parent
RECORDING_KEY = "sk-CASSETTE-RECORDING-KEY-0001"
WRONG_KEY = "sk-CASSETTE-WRONG-KEY-0002"
HOSTS = {"apikley": "https://api.apikley.ru", "modellix": "https://api.modellix.ai"}
TASK_IDS = {"apikley": "task_bytedance_1765176547151", "modellix": "task-def456"}
UNKNOWN_IDS = {"apikley": "task_bytedance_1000000000000", "modellix": "task-000000"}
REQUESTS: dict[str, dict[str, Any]] = {
    "apikley": {"model": "bytedance/seedream-v4-text-to-image",
                "input": {"prompt": "Draw the following system of binary linear equations and "
                                    "the corresponding solution steps on the blackboard: 5x + "
                                    "2y = 26; 2x -y = 5.",
                          "image_size": "square_hd", "image_resolution": "1K",
                          "max_images": 1}},
    "modellix": {"prompt": "Beautiful cherry blossom garden in spring, soft lighting",
                 "size": "2048x2048"},
}
INVALID: dict[str, dict[str, Any]] = {
    "apikley": {"model": "bytedance/seedream-v4-text-to-image", "input": {}},
    "modellix": {"prompt": "Beautiful cherry blossom garden in spring", "size": "1024"},
}
LATENCY = 2.0
POLL_AT = (0.0, 1.0, 2.4)
"""Seconds after the create: waiting/pending, generating/processing, finished."""

Scenario = Callable[[Simulator, str], Coroutine[Any, Any, None]]


def client(provider: str, base_url: str, key: str = RECORDING_KEY) -> ProviderClient:
    http = httpx.AsyncClient(timeout=10.0)
    if provider == "apikley":
        return ApikleyClient(http, base_url=base_url, api_key=key)
    return ModellixClient(http, base_url=base_url, api_key=key)


async def lifecycle(sim: Simulator, provider: str) -> None:
    """Create one task, then poll it at POLL_AT."""
    c = client(provider, sim.base_url)
    task_id = await c.submit(REQUESTS[provider])
    elapsed = 0.0
    for at in POLL_AT:
        await asyncio.sleep(at - elapsed)
        elapsed = at
        await c.fetch(task_id)
    await c.aclose()


async def failed(sim: Simulator, provider: str) -> None:
    """A task that ends failed."""
    sim.inject(Fault.GENERATION_FAILED)
    await lifecycle(sim, provider)


async def errors(sim: Simulator, provider: str) -> None:
    """Invalid request, 429, 503, wrong key, no credits, unknown task: in this order."""
    c = client(provider, sim.base_url)
    await expect_error(c.submit(INVALID[provider]))
    sim.inject(Fault.HTTP_429)
    await expect_error(c.submit(REQUESTS[provider]))
    sim.inject(Fault.HTTP_503)
    await expect_error(c.submit(REQUESTS[provider]))
    wrong = client(provider, sim.base_url, WRONG_KEY)
    await expect_error(wrong.submit(REQUESTS[provider]))
    await wrong.aclose()
    sim.config.credits = 0
    await expect_error(c.submit(REQUESTS[provider]))
    await expect_error(c.fetch(UNKNOWN_IDS[provider]))
    await c.aclose()


async def expect_error(call: Awaitable[Any]) -> None:
    try:
        await call
    except ProviderError:
        return
    raise AssertionError("expected a provider error")


SCENARIOS: dict[str, Scenario] = {"success": lifecycle, "failed": failed, "errors": errors}


def record(provider: str, name: str, scenario: Scenario) -> Path:
    """Record one scenario into ``<provider>_<name>.yaml`` and rewrite it."""
    path = HERE / f"{provider}_{name}.yaml"
    path.unlink(missing_ok=True)
    recorder = vcr.VCR(record_mode="all", filter_headers=["authorization"])
    config = SimConfig(latency=LATENCY, api_key=RECORDING_KEY, fault_retry_after=5)
    with Simulator(config) as sim, recorder.use_cassette(str(path)):
        asyncio.run(scenario(sim, provider))
        base_url = sim.base_url
    rewrite(path, provider, base_url)
    return path


def rewrite(path: Path, provider: str, base_url: str) -> None:
    """Make a recorded cassette read like the real provider (see the module docstring)."""
    cassette = yaml.safe_load(path.read_text())
    ids: dict[str, str] = {}
    for interaction in cassette["interactions"]:
        request, response = interaction["request"], interaction["response"]
        text = _text(response["body"]["string"])
        payload = json.loads(text) if text.startswith("{") else None
        if isinstance(payload, dict):
            _learn_ids(payload, provider, ids)
            text = json.dumps(DOCUMENTED[provider](payload), separators=(",", ":"),
                              ensure_ascii=False)
        request["uri"] = _replace(request["uri"], base_url, provider, ids)
        request["body"] = _text(request["body"]) or None
        request["headers"]["host"] = [urlsplit(HOSTS[provider]).netloc]
        response["body"]["string"] = _replace(text, base_url, provider, ids)
        headers = {k: v for k, v in response["headers"].items() if k not in ("server", "date")}
        headers["content-length"] = [str(len(response["body"]["string"].encode()))]
        response["headers"] = headers
    path.write_text(yaml.safe_dump(cassette, sort_keys=False, allow_unicode=True, width=100))


def _text(body: str | bytes | None) -> str:
    return body.decode() if isinstance(body, bytes) else body or ""


def _learn_ids(payload: dict[str, Any], provider: str, ids: dict[str, str]) -> None:
    data = payload.get("data")
    task_id = data.get("taskId" if provider == "apikley" else "task_id") if data else None
    if isinstance(task_id, str) and task_id not in ids:
        ids[task_id] = TASK_IDS[provider]


def _replace(text: str, base_url: str, provider: str, ids: dict[str, str]) -> str:
    text = text.replace(base_url, HOSTS[provider])
    for sim_id, documented in ids.items():
        text = text.replace(sim_id, documented)
    return text


def _apikley(payload: dict[str, Any]) -> dict[str, Any]:
    """FACTS.md's recordInfo example values for times and result URLs."""
    data = payload.get("data")
    if isinstance(data, dict) and "state" in data:
        done = data["completeTime"] is not None
        data.update(createTime=1698765400000,
                    updateTime=1698765432000 if done else 1698765400000,
                    completeTime=1698765432000 if done else None,
                    costTime=15000 if done else None)
        if data["resultJson"]:
            data["resultJson"] = json.dumps(
                {"resultUrls": ["https://example.com/generated-content.jpg"]},
                separators=(",", ":"))
    return payload


def _modellix(payload: dict[str, Any]) -> dict[str, Any]:
    """FACTS.md's create and task-result example values."""
    data = payload.get("data")
    if not isinstance(data, dict):
        return payload
    if "model_id" in data:
        data["model_id"] = "model-123"
    if "duration" in data:
        data["duration"] = 3500 if data["status"] in ("success", "failed") else 0
    result = data.get("result")
    if isinstance(result, dict):
        width, height = (int(n) for n in re.findall(r"\d+", REQUESTS["modellix"]["size"]))
        for resource in result["resources"]:
            resource.update(url="https://cdn.example.com/images/abc123.png", width=width,
                            height=height)
        result["metadata"]["request_id"] = "req-123456"
        result["extensions"] = {"submit_time": "2024-01-01T10:00:00Z",
                                "end_time": "2024-01-01T10:00:03Z"}
    return payload


DOCUMENTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "apikley": _apikley, "modellix": _modellix}


def main() -> None:
    for provider in HOSTS:
        for name, scenario in SCENARIOS.items():
            print(record(provider, name, scenario).relative_to(ROOT))


if __name__ == "__main__":
    main()
