"""Polling learns how long tasks take from what the provider reports (issue #13), over real HTTP
against the simulator. Counts, not durations: polls per task against the number of tasks.

Each apply gets a first-poll hint and a longest interval of 60 s (``SEEDFLOW_POLL_INTERVAL``,
``SEEDFLOW_POLL_MAX``), far above the tasks' generation time: a schedule that waited for its
hint, or for a task's own time-to-success, would sit out a minute per wave and trip the test's
timeout; one that learns from the scouts' first successes finishes in a second or two.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from applykit import Project, Run

from seedflow.apply.pacing import PollSchedule
from seedflow.sim import Simulator

HINT = {"SEEDFLOW_POLL_INTERVAL": "60", "SEEDFLOW_POLL_MAX": "60"}


@pytest.mark.timeout(45)
@pytest.mark.parametrize("provider", ["apikley", "modellix"])
def test_fast_tasks_are_polled_once_each_once_the_scouts_learn(
        provider: str, make_sim: Callable[..., Simulator], env: Callable[..., object],
        project: Project, seedflow: Run) -> None:
    sim = make_sim(latency=0.2)
    env(sim, SEEDFLOW_CONCURRENCY="6", **HINT)
    addresses = project.write(provider=provider, things=("mug", "lamp", "vase"),
                              seeds=(1, 2, 3, 4, 5, 6))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.creates == len(addresses) == 18
    # the scouts' first looks (at 0.25 s and a little later) already find their tasks done;
    # a few late answers on a busy machine may cost one more look each
    assert sim.counters.polls <= len(addresses) + PollSchedule.SCOUTS
    project.assert_intact(addresses)


@pytest.mark.timeout(60)
def test_slow_tasks_cost_few_polls(make_sim: Callable[..., Simulator],
                                   env: Callable[..., object], project: Project,
                                   seedflow: Run) -> None:
    """Three waves of tasks of 1 s: the scouts look about 10 times each during the first wave;
    every later task is looked at when the reported time says it is done."""
    sim = make_sim(latency=1.0)
    env(sim, SEEDFLOW_CONCURRENCY="8", **HINT)
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2, 3, 4, 5, 6, 7, 8))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.creates == len(addresses) == 24
    scouting = PollSchedule.SCOUTS * 12   # 0.25 s × 1.2ⁿ reaches 1 s in 8 looks; margin
    assert sim.counters.polls <= len(addresses) + scouting
    assert sim.counters.polls <= 2.5 * len(addresses)


@pytest.mark.timeout(45)
def test_a_provider_that_reports_no_time_is_still_polled_sparingly(
        make_sim: Callable[..., Simulator], env: Callable[..., object], project: Project,
        seedflow: Run) -> None:
    """No reported time: the schedule learns the middle of "last seen running" and "seen
    done" instead, and still never waits for the hint."""
    sim = make_sim(latency=0.2, report_times=False)
    env(sim, SEEDFLOW_CONCURRENCY="6", **HINT)
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2, 3, 4, 5, 6))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.creates == len(addresses)
    assert sim.counters.polls <= 3 * len(addresses)
    project.assert_intact(addresses)
