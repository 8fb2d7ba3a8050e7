"""kill -9 in the middle of an apply, then apply again: nothing paid twice, nothing lost.

The crashing apply runs as a ``python -m seedflow`` subprocess with ``SEEDFLOW_FAILPOINT`` (the
process SIGKILLs itself at a named step); the simulator and the recovering apply run here. The
crashing apply uses ``--concurrency 1`` so that the step it dies at decides exactly which
requests were sent; the external-kill test below covers concurrent in-flight work.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

import pytest
from applykit import (
    Project,
    Run,
    events,
    run_subprocess,
    start_subprocess,
    tasks_by_address,
    wait_for,
)

from seedflow.lock.journal import journal_path
from seedflow.lock.read import read_lock
from seedflow.sim import Simulator

KILLED = -signal.SIGKILL


def assert_recovered(project: Project, sim: Simulator, seedflow: Run,
                     addresses: list[str]) -> None:
    """The end state every crash must lead to: one paid task per combination, every image in
    place with its recorded hash, a lockfile that loads and plans as all unchanged, no temp
    files left behind."""
    assert sim.counters.creates == len(addresses)
    assert set(tasks_by_address(sim, project).values()) == {1}
    project.assert_intact(addresses)
    images = sum(len(e.images) for e in project.entries().values())
    assert len(project.images()) == images
    plan = seedflow("plan", str(project.pipeline), "--detailed-exitcode", "--check-hashes")
    assert plan.code == 0, plan.text
    assert "No changes" in plan.out
    assert project.parts() == []


def plan_summary(seedflow: Run, project: Project) -> dict[str, int]:
    result = seedflow("plan", str(project.pipeline), "--format", "json")
    assert result.code == 0, result.text  # the lockfile loads right after the crash
    summary: dict[str, int] = json.loads(result.out)["summary"]
    return summary


# failpoint, provider, images per task, creates made before the kill, plan after the kill.
# The one worker sends a create as soon as the task before it has finished generating, then
# downloads that task's images: create 1, poll 1, create 2, download 1, poll 2, create 3, ...
CRASHES = [
    pytest.param("before-intent:3", "sim", 1, 2, {"unchanged": 1, "resume": 1, "create": 4},
                 id="before-intent"),
    pytest.param("after-submitted:3", "apikley", 1, 3,
                 {"unchanged": 1, "resume": 2, "create": 3}, id="after-submitted"),
    pytest.param("mid-download:3", "modellix", 2, 3, {"unchanged": 1, "resume": 2, "create": 3},
                 id="mid-download"),
    pytest.param("after-image:4", "sim:modellix", 2, 3,
                 {"unchanged": 1, "resume": 2, "create": 3}, id="after-image-partial-task"),
    pytest.param("after-image:2", "apikley", 1, 3, {"unchanged": 1, "resume": 2, "create": 3},
                 id="after-image"),
    pytest.param("mid-compaction:1", "apikley", 1, 6, {"unchanged": 6}, id="mid-compaction"),
]


@pytest.mark.parametrize(("failpoint", "provider", "images", "created", "expected"), CRASHES)
def test_kill_at_failpoint_then_apply_again(failpoint: str, provider: str, images: int,
                                            created: int, expected: dict[str, int],
                                            sim: Simulator, env: Callable[..., dict[str, str]],
                                            project: Project, seedflow: Run) -> None:
    variables = env(sim)
    addresses = project.write(provider=provider, images=images)
    assert len(addresses) == 6

    crashed = run_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency", "1"],
                             {**variables, "SEEDFLOW_FAILPOINT": failpoint})

    assert crashed.returncode == KILLED, project.explain(crashed)
    assert sim.counters.creates == created
    summary = plan_summary(seedflow, project)
    assert {k: v for k, v in summary.items() if v} == expected
    if failpoint.startswith("mid-download"):
        assert project.parts(), "the kill should have left a half-written .part file"
    if failpoint.startswith("mid-compaction"):
        assert journal_path(project.lock).exists()  # new lockfile, old journal: both load

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    if expected.get("resume"):
        assert len(events(result.err, "resume")) == expected["resume"]
    assert_recovered(project, sim, seedflow, addresses)
    assert not journal_path(project.lock).exists()


def test_kill_after_intent_is_uncertain_until_retried(sim: Simulator,
                                                      env: Callable[..., dict[str, str]],
                                                      project: Project, seedflow: Run) -> None:
    """The intent record means "a create may have been sent": the next apply must not pay for
    it again on its own, and says so; --retry-uncertain is the user's explicit choice."""
    variables = env(sim)
    addresses = project.write()

    crashed = run_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency", "1"],
                             {**variables, "SEEDFLOW_FAILPOINT": "after-intent:1"})

    assert crashed.returncode == KILLED, project.explain(crashed)
    assert sim.counters.create_requests == 0
    (uncertain,) = [e for e in project.entries().values() if e.state == "uncertain"]

    again = seedflow("apply", str(project.pipeline), "--yes")

    assert again.code == 1, again.text
    assert "Uncertain" in again.out
    assert f"  {uncertain.address}: " in again.out
    assert "--retry-uncertain" in again.out
    assert sim.counters.creates == len(addresses) - 1
    assert tasks_by_address(sim, project)[uncertain.address] == 0
    assert project.entries()[uncertain.address].state == "uncertain"

    retried = seedflow("apply", str(project.pipeline), "--yes", "--retry-uncertain")

    assert retried.code == 0, retried.text
    assert_recovered(project, sim, seedflow, addresses)


def test_external_kill_mid_apply(make_sim: Callable[..., Simulator],
                                 env: Callable[..., dict[str, str]], project: Project,
                                 seedflow: Run) -> None:
    """SIGKILL from outside at whatever the apply was doing once half the creates are in,
    with several tasks in flight; apply again until done."""
    sim = make_sim(latency=0.3)
    variables = env(sim)
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2, 3, 4))
    half = len(addresses) // 2

    proc = start_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency", "3"],
                            variables)
    try:
        wait_for(lambda: sim.counters.creates >= half or proc.poll() is not None,
                 what="half of the creates")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == KILLED, err
    time.sleep(0.2)  # let the simulator finish handling requests the dead client had sent

    assert half <= sim.counters.creates < len(addresses)
    uncertain = {e.address for e in read_lock(project.lock).entries.values()
                 if e.state == "uncertain"}
    sent_anyway = {a for a, n in tasks_by_address(sim, project).items() if a in uncertain and n}

    retried: set[str] = set()
    for _ in range(3):
        retried |= {e.address for e in project.entries().values() if e.state == "uncertain"}
        result = seedflow("apply", str(project.pipeline), "--yes", "--retry-uncertain")
        if result.code == 0:
            break
    assert result.code == 0, result.text

    assert retried == uncertain
    assert sim.counters.creates == len(addresses) + len(sent_anyway)
    counts = tasks_by_address(sim, project)
    assert {a for a, n in counts.items() if n > 1} == sent_anyway
    project.assert_intact(addresses)
    assert project.parts() == []
    plan = seedflow("plan", str(project.pipeline), "--detailed-exitcode", "--check-hashes")
    assert plan.code == 0, plan.text
