"""A create the provider refuses ("nothing was created") leaves the lock as it was before."""

from __future__ import annotations

from collections.abc import Callable

from applykit import Project, Run

from seedflow.lock.format import lock_text
from seedflow.sim import Fault, Simulator


def test_a_refused_retry_keeps_the_earlier_failed_attempt(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    (address,) = project.write(things=("mug",), seeds=(1,))
    sim.inject(Fault.GENERATION_FAILED, times=2)
    first = seedflow("apply", str(project.pipeline), "--yes")
    assert first.code == 1
    failed = project.entries()[address]
    assert (failed.state, failed.attempts) == ("failed", 2)  # one retry, both paid

    sim.inject(Fault.HTTP_503, times=50, endpoint="create")
    second = seedflow("apply", str(project.pipeline), "--yes")

    assert second.code == 1
    assert "kept asking to retry later; nothing was created" in second.out
    assert project.entries()[address] == failed  # history and attempt count intact
    assert project.lock.read_text() == lock_text([failed])
