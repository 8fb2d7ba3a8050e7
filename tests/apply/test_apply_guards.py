"""What apply refuses or limits before paying: a second apply on the same lock, a corrupt
lockfile, --locked, paid work with no terminal and no --yes; and --target."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest
from applykit import Project, Result, Run, start_subprocess, wait_for

from seedflow.lock.journal import journal_path
from seedflow.sim import Simulator


def apply(seedflow: Run, project: Project, *args: str) -> Result:
    return seedflow("apply", str(project.pipeline), *args)


def test_second_concurrent_apply_is_refused_naming_the_holder(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run) -> None:
    sim = make_sim(latency=30.0)  # the first apply stays busy for the whole test
    variables = env(sim)
    project.write()
    first = start_subprocess(project.root, ["apply", "p.yaml", "--yes"], variables)
    try:
        wait_for(lambda: sim.counters.creates == 6 or first.poll() is not None,
                 what="the first apply to create its tasks")
        assert first.poll() is None
        before = sim.counters.create_requests

        second = apply(seedflow, project, "--yes")

        assert second.code == 1, second.text
        assert f"in use by pid {first.pid}" in second.err
        assert "one apply per lockfile at a time" in second.err
        assert sim.counters.create_requests == before
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)


def _garbage_line(text: bytes) -> bytes:
    lines = text.splitlines(keepends=True)
    lines[2] = b'{"fingerprint": "abc", "address": \n'
    return b"".join(lines)


def _conflict(text: bytes) -> bytes:
    lines = text.splitlines(keepends=True)
    return b"".join([*lines[:2], b"<<<<<<< HEAD\n", lines[2], b"=======\n", lines[3],
                     b">>>>>>> feature\n", *lines[4:]])


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "bad-json-line": _garbage_line,
    "merge-conflict": _conflict,
    "not-utf8": lambda text: text[:40] + b"\xff\xfe\xfa" + text[40:],
    "no-header": lambda text: b"\n".join(text.splitlines()[1:]) + b"\n",
    "empty": lambda text: b"",
    "newer-format": lambda text: text.replace(b'"seedflow_lock":1', b'"seedflow_lock":99', 1),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_lockfile_stops_apply_before_any_request(corruption: str, sim: Simulator,
                                                         env: Callable[..., object],
                                                         project: Project,
                                                         seedflow: Run) -> None:
    env(sim)
    project.write(seeds=(1, 2))
    assert apply(seedflow, project, "--yes").code == 0
    # give apply every reason to work: a new seed (create) and a deleted file (restore)
    project.write(seeds=(1, 2, 3))
    project.images()[0].unlink()
    broken = CORRUPTIONS[corruption](project.lock.read_bytes())
    project.lock.write_bytes(broken)
    before = sim.counters
    files = project.images()

    result = apply(seedflow, project, "--yes")

    assert result.code == 1, result.text
    assert str(project.lock.name) in result.err
    assert "Traceback" not in result.text
    after = sim.counters
    assert (after.create_requests, after.polls, after.downloads) == \
        (before.create_requests, before.polls, before.downloads)
    assert project.lock.read_bytes() == broken  # left as it was, for the user to repair
    assert project.images() == files
    plan = seedflow("plan", str(project.pipeline))
    assert plan.code == 1, plan.text  # plan does not take it for "everything is new" either


def test_corrupt_journal_stops_apply_before_any_request(sim: Simulator,
                                                        env: Callable[..., object],
                                                        project: Project, seedflow: Run) -> None:
    env(sim)
    project.write()
    assert apply(seedflow, project, "--yes").code == 0
    journal = journal_path(project.lock)
    journal.write_text('{"put": {"fingerprint": 12}}\n{"drop": "x"}\n', encoding="utf-8")
    project.images()[0].unlink()
    before = sim.counters

    result = apply(seedflow, project, "--yes")

    assert result.code == 1, result.text
    assert journal.name in result.err
    assert sim.counters.downloads == before.downloads
    assert sim.counters.create_requests == before.create_requests


def test_locked_refuses_paid_work_and_lists_it(sim: Simulator, env: Callable[..., object],
                                               project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write()

    result = apply(seedflow, project, "--locked")

    assert result.code == 1, result.text
    assert "--locked" in result.err
    for address in addresses:
        assert f"  {address}\n" in result.err
    assert sim.counters.create_requests == 0
    assert project.entries() == {}
    assert project.images() == []


def test_locked_still_restores_a_deleted_file(sim: Simulator, env: Callable[..., object],
                                              project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write()
    assert apply(seedflow, project, "--yes").code == 0
    lost = project.images()[2]
    lost.unlink()
    before = sim.counters

    result = apply(seedflow, project, "--locked")

    assert result.code == 0, result.text
    assert lost.is_file()
    assert sim.counters.create_requests == before.create_requests
    assert sim.counters.downloads == before.downloads + 1
    project.assert_intact(addresses)


@pytest.mark.parametrize("provider", ["apikley", "modellix"])
def test_paid_work_without_a_terminal_needs_yes(provider: str, sim: Simulator,
                                                env: Callable[..., object], project: Project,
                                                seedflow: Run) -> None:
    env(sim)
    project.write(provider=provider)

    result = apply(seedflow, project)  # pytest's stdin is not a terminal

    assert result.code == 1, result.text
    assert "pass --yes" in result.err
    assert sim.counters.create_requests == 0
    assert project.entries() == {}


def test_simulated_work_needs_no_yes(sim: Simulator, env: Callable[..., object],
                                     project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write(provider="sim")

    result = apply(seedflow, project)

    assert result.code == 0, result.text
    project.assert_intact(addresses)


def test_target_globs_limit_the_work(sim: Simulator, env: Callable[..., object],
                                     project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2))

    mugs = apply(seedflow, project, "--yes", "--target", "shots[thing=mug*")

    assert mugs.code == 0, mugs.text
    assert sorted(project.entries()) == sorted(a for a in addresses if "mug" in a)
    assert sim.counters.create_requests == 2

    # an exact address from `plan`, and a glob over a whole address: brackets are literal
    exact = apply(seedflow, project, "--yes", "--target", "shots[thing=lamp, seed=2]",
                  "--target", "shots[thing=vase, seed=*]")

    assert exact.code == 0, exact.text
    assert sim.counters.create_requests == 5
    assert "shots[thing=lamp, seed=1]" not in project.entries()

    plan = seedflow("plan", str(project.pipeline), "--format", "json")
    summary = json.loads(plan.out)["summary"]
    assert (summary["create"], summary["unchanged"]) == (1, 5)
