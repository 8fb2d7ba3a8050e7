"""Shared fixtures for provider tests: a running simulator and a poll-until-done helper."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest

from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.sim import SimConfig, Simulator

Settle = Callable[[ProviderClient, str], Awaitable[TaskState]]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator on a loopback port whose tasks take 50 ms."""
    with Simulator(SimConfig(latency=0.05)) as running:
        yield running


@pytest.fixture
def settle() -> Settle:
    """Poll a task every 20 ms until it is SUCCEEDED or FAILED (at most 5 s)."""

    async def poll(client: ProviderClient, task_id: str) -> TaskState:
        for _ in range(250):
            state = await client.fetch(task_id)
            if state.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
                return state
            await asyncio.sleep(0.02)
        raise AssertionError(f"task {task_id} did not finish")

    return poll
