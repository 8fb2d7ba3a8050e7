"""Fixtures for the simulator's HTTP tests: a running simulator and a client speaking to it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from simkit import AUTH, FAST

from seedflow.sim import SimConfig, Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(latency=FAST)) as running:
        yield running


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=5) as http:
        yield http
