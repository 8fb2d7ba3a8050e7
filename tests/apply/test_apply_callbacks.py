"""Apikley callbacks (SEEDFLOW_CALLBACKS=1): the provider's POST wakes the task's poll at once;
one poll confirms the state, so results never come from a callback alone."""

from __future__ import annotations

import time
from collections.abc import Callable

from applykit import Project, Run

from seedflow.sim import Simulator


def test_callbacks_make_results_arrive_without_waiting_for_the_poll(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    # the first poll would come after 30 s: finishing fast proves the callbacks woke it
    env(sim, SEEDFLOW_CALLBACKS="1", SEEDFLOW_POLL_INTERVAL="30", SEEDFLOW_POLL_MAX="30")
    addresses = project.write(things=("mug", "lamp"), seeds=(1, 2))
    started = time.monotonic()

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert time.monotonic() - started < 15
    assert sim.counters.callbacks_sent == len(addresses)
    assert sim.counters.polls == len(addresses)  # exactly one confirming poll per task
    project.assert_intact(addresses)
    # the callback URL is never part of what is locked (nor of the identity)
    assert all("callBackUrl" not in str(e.request) for e in project.entries().values())


def test_without_callbacks_no_callback_url_is_sent(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    project.write(things=("mug",), seeds=(1,))
    assert seedflow("apply", str(project.pipeline), "--yes").code == 0
    assert sim.counters.callbacks_sent == 0
    assert all("callBackUrl" not in task.request for task in sim.tasks.values())
