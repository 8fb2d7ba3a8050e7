"""Stopping an apply with SIGTERM (how CI cancels a job) or ^C: no new create starts, what was
paid for is in the lockfile itself (not only the journal, which CI does not commit), the user is
told what happens next, and the next apply collects the tasks without paying again."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from applykit import Project, Run, start_subprocess, wait_for

from seedflow.lock.format import parse_lock
from seedflow.lock.model import State
from seedflow.sim import Simulator


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_apply_records_its_tasks_and_the_next_one_collects_them(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run, sent: signal.Signals, code: int) -> None:
    sim = make_sim(latency=30.0)   # tasks stay running while the apply is stopped
    variables = env(sim)
    addresses = project.write()
    run = start_subprocess(project.root, ["apply", "p.yaml", "--yes"], variables)
    try:
        wait_for(lambda: sim.counters.creates == len(addresses) or run.poll() is not None,
                 what="every create to be sent")
        run.send_signal(sent)
        _, err = run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            run.kill()

    assert run.returncode == code, err
    assert err.splitlines()[-1] == (
        f"Interrupted. {len(addresses)} tasks are submitted and recorded in p.lock; run "
        "`seedflow apply p.yaml` again to collect them at no cost.")
    assert "Traceback" not in err
    locked = parse_lock(project.lock.read_text(encoding="utf-8"), "p.lock")   # the file alone
    assert sorted(e.address for e in locked.values() if e.state is State.SUBMITTED) == \
        sorted(addresses)

    sim.config.latency = 0.05   # the provider finishes them
    again = seedflow("apply", "p.yaml", "--yes")

    assert again.code == 0, again.text
    assert sim.counters.creates == len(addresses)          # nothing paid twice
    assert {e.state for e in project.entries().values()} == {State.SUCCEEDED}
