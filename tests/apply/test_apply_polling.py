"""Polling learns how long tasks take from what the provider reports (issue #13), over real HTTP
against the simulator. Counts, not durations: polls per task against the number of tasks.

Each apply gets a first-poll hint and a longest interval of 60 s (``SEEDFLOW_POLL_INTERVAL``,
``SEEDFLOW_POLL_MAX``), far above the tasks' generation time: a schedule that waited for its
hint, or for a task's own time-to-success, would sit out a minute per wave and trip the test's
timeout; one that learns from the scouts' first successes finishes in a second or two.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from applykit import Project, Run

from seedflow.apply.pacing import PollSchedule
from seedflow.sim import SimConfig, Simulator

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


class Requests:
    """What a simulator was asked, in order: ("create", ""), ("poll", task id) or
    ("download", task id)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        method, target = line.split()[:2]
        url = urlsplit(target)
        if method == "POST":
            found = ("create", "")
        elif url.path.startswith("/files/"):
            found = ("download", url.path.split("/")[2])
        else:
            found = ("poll", parse_qs(url.query)["taskId"][0])
        with self._lock:
            self.seen.append(found)

    def kinds(self) -> list[str]:
        """The kinds in order, repeated polls of one task counted once."""
        kinds = [kind for kind, _ in self.seen]
        return [k for i, k in enumerate(kinds) if i == 0 or not k == kinds[i - 1] == "poll"]


@pytest.fixture
def logged() -> Iterator[Callable[..., tuple[Simulator, Requests]]]:
    """A simulator whose requests are kept in order."""
    started: list[Simulator] = []

    def start(**config: float) -> tuple[Simulator, Requests]:
        requests = Requests()
        simulator = Simulator(SimConfig(**config), log=requests)
        simulator.start()
        started.append(simulator)
        return simulator, requests

    yield start
    for simulator in started:
        simulator.stop()


@pytest.mark.timeout(45)
def test_a_finished_task_frees_its_slot_before_its_images_are_downloaded(
        logged: Callable[..., tuple[Simulator, Requests]], env: Callable[..., object],
        project: Project, seedflow: Run) -> None:
    """One slot: the next create goes out as soon as a poll sees the task before it done; that
    task's image is downloaded while the new one generates."""
    sim, requests = logged(latency=0.1)
    env(sim, SEEDFLOW_CONCURRENCY="1", **HINT)
    addresses = project.write(things=("mug",), seeds=(1, 2, 3))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert requests.kinds() == ["create", "poll", "create", "download", "poll", "create",
                                "download", "poll", "download"]
    polled = list(dict.fromkeys(task for kind, task in requests.seen if kind == "poll"))
    assert [task for kind, task in requests.seen if kind == "download"] == polled
    assert sim.counters.creates == len(addresses)
    project.assert_intact(addresses)


@pytest.mark.timeout(45)
def test_tasks_that_waited_for_the_scouts_are_each_polled_once(
        logged: Callable[..., tuple[Simulator, Requests]], env: Callable[..., object],
        project: Project, seedflow: Run) -> None:
    """The scouts' first success wakes the tasks that waited for it, each of which is then
    looked at when it is due by what was learnt, not at once: the creates are paced 4 per
    0.1 s, so the second four are still generating when the first scout learns."""
    # the first scout's first look (PollSchedule.PROBE) finds its task just done
    sim, requests = logged(latency=PollSchedule.PROBE)
    env(sim, SEEDFLOW_CONCURRENCY="16", SEEDFLOW_APIKLEY_RATE="4/0.1s", **HINT)
    addresses = project.write(things=("mug", "lamp", "vase", "cup"), seeds=(1, 2, 3, 4))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.creates == len(addresses) == 16
    polls = Counter(task for kind, task in requests.seen if kind == "poll")
    assert len(polls) == len(addresses)
    assert sum(1 for count in polls.values() if count > 1) <= PollSchedule.SCOUTS, polls
