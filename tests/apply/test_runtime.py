"""Run-time settings and clients from the environment (the only source of keys)."""

from __future__ import annotations

import asyncio

import pytest

from seedflow.apply.runtime import Connections, open_clients, settings_from_env
from seedflow.errors import SeedflowError
from seedflow.sim import SimConfig, Simulator


def test_settings_come_from_the_environment_and_flags_win() -> None:
    env = {"SEEDFLOW_CONCURRENCY": "7", "SEEDFLOW_POLL_INTERVAL": "0.5",
           "SEEDFLOW_POLL_MAX": "4", "SEEDFLOW_RETRY_BASE": "0.25",
           "SEEDFLOW_APIKLEY_RATE": "10/5s", "SEEDFLOW_MODELLIX_RATE": "0"}
    settings = settings_from_env(env, concurrency=3, retry_uncertain=True)
    assert (settings.concurrency, settings.poll_first, settings.poll_max, settings.retry_base,
            settings.retry_uncertain) == (3, 0.5, 4.0, 0.25, True)
    assert settings.rates == {"apikley": (10, 5.0), "modellix": None}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SEEDFLOW_CONCURRENCY", "many", "SEEDFLOW_CONCURRENCY='many' is not a whole number"),
    ("SEEDFLOW_CONCURRENCY", "0", "SEEDFLOW_CONCURRENCY must be greater than 0"),
    ("SEEDFLOW_POLL_MAX", "-1", "SEEDFLOW_POLL_MAX must be greater than 0"),
    ("SEEDFLOW_APIKLEY_RATE", "fast", "invalid rate 'fast': write COUNT/SECONDSs, e.g. 20/10s "
     "(at most 20 creates per 10 seconds), or 0 for no limit"),
])
def test_a_bad_setting_is_a_clear_error(name: str, value: str, message: str) -> None:
    with pytest.raises(SeedflowError) as error:
        settings_from_env({name: value})
    assert error.value.message == message


def test_a_missing_key_is_refused_before_any_client_exists() -> None:
    async def open_modellix() -> None:
        async with open_clients(["modellix"], {}):
            raise AssertionError("no client may be opened without a key")

    with pytest.raises(SeedflowError) as error:
        asyncio.run(open_modellix())
    assert error.value.message.startswith("MODELLIX_API_KEY is not set.")


def test_simulated_providers_get_an_embedded_simulator_and_no_key() -> None:
    async def submit_one() -> tuple[str | None, str]:
        async with open_clients(["sim"], {"SEEDFLOW_SIM_LATENCY": "0.01"}) as connections:
            client = connections.clients["sim"]
            task = await client.submit({"model": "bytedance/seedream-v4-text-to-image",
                                        "input": {"prompt": "a mug"}})
            return connections.sim_url, task

    url, task = asyncio.run(submit_one())
    assert url is not None and url.startswith("http://127.0.0.1:") and task


def test_only_simulated_loopback_urls_are_pointed_at_this_runs_simulator() -> None:
    simulator = Simulator(SimConfig(latency=0.01))
    simulator.start()
    try:
        connections = Connections(sim_url=simulator.base_url)
        old = "http://127.0.0.1:1234/files/abc.png?x=1"
        assert connections.rebase("sim", old) == f"{simulator.base_url}/files/abc.png?x=1"
        assert connections.rebase("apikley", old) == old            # a real provider: as is
        cdn = "https://cdn.example/files/abc.png"
        assert connections.rebase("sim", cdn) == cdn                # not loopback: as is
    finally:
        simulator.stop()
