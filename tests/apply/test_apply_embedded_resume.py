"""Interrupting an apply on the embedded simulator, then applying again, resumes the very tasks
the first run paid for: the next run's simulator (a new one, on a new port) answers for them,
since a simulated task's id describes it (docs/providers.md, the simulator). A task id the
lockfile was edited to hold is the protocol's "not found", for that combination alone.

The interrupted apply is a ``python -m seedflow`` subprocess (SIGINT from outside, or SIGKILL at
a failpoint); ``plan`` and the second apply run in-process, where the second run's simulator is
recorded to count its creates.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from applykit import Project, Run, events, run_subprocess, start_subprocess, tasks_by_address

import seedflow.sim
from seedflow.lock.journal import journal_path
from seedflow.outputs import file_sha256
from seedflow.sim import Simulator
from seedflow.sim.wire import ID_MAX, MARK

WIDTH = 3
"""Workers per provider (--concurrency): each has one task generating at a time (a finished
task's images are downloaded after the worker's next create is sent), so an apply stopped once
three tasks are submitted, none of them finished, has exactly three in flight and no create
outstanding."""

PROVIDERS = [pytest.param("sim", id="sim"), pytest.param("sim:modellix", id="sim-modellix")]


class Recorded(Simulator):
    """The embedded simulator, remembered when apply starts it (to read its counters)."""

    started: ClassVar[list[Recorded]] = []

    def start(self) -> None:
        super().start()
        self.address = self.base_url
        Recorded.started.append(self)


@pytest.fixture
def embedded(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[dict[str, str]]:
    """The environment of an apply on the embedded simulator (no SEEDFLOW_SIM_URL), for the
    subprocess; in-process runs get it too, with their simulators recorded."""
    variables = {
        "SEEDFLOW_SIM_LATENCY": "2",  # the first run's tasks are still generating when stopped
        "SEEDFLOW_POLL_INTERVAL": "0.05",
        "SEEDFLOW_POLL_MAX": "0.2",
        "SEEDFLOW_RETRY_BASE": "0.05",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    }
    monkeypatch.chdir(project.root)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.05")  # new tasks of in-process runs
    monkeypatch.setattr(seedflow.sim, "Simulator", Recorded)
    Recorded.started = []
    yield variables


def interrupt_after_submits(project: Project, variables: dict[str, str], count: int
                            ) -> subprocess.CompletedProcess[str]:
    """Start apply, wait until ``count`` tasks are submitted (its progress lines), ^C it."""
    proc = start_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency",
                                           str(WIDTH)], variables)
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        while sum(line.split()[1:2] == ["submitted"] for line in seen) < count:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


def stop_first_run(how: str, project: Project, variables: dict[str, str], width: int = WIDTH
                   ) -> subprocess.CompletedProcess[str]:
    """Stop an apply on the embedded simulator once ``width`` tasks are submitted."""
    if how == "sigint":
        stopped = interrupt_after_submits(project, variables, width)
        assert stopped.returncode == 130, project.explain(stopped)
        assert not journal_path(project.lock).exists()  # ^C compacts the lock
    else:
        stopped = run_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency",
                                                str(width)],
                                 {**variables, "SEEDFLOW_FAILPOINT": f"after-submitted:{width}"})
        assert stopped.returncode == -signal.SIGKILL, project.explain(stopped)
    assert "Traceback" not in stopped.stdout + stopped.stderr
    return stopped


def plan_summary(seedflow: Run, project: Project) -> dict[str, int]:
    result = seedflow("plan", str(project.pipeline), "--format", "json")
    assert result.code == 0, result.text
    return {k: v for k, v in json.loads(result.out)["summary"].items() if v}


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_interrupted_embedded_apply_resumes_its_tasks_with_no_new_create(
        provider: str, how: str, project: Project, embedded: dict[str, str],
        seedflow: Run) -> None:
    addresses = project.write(provider=provider, images=2 if provider == "sim:modellix" else 1)
    assert len(addresses) == 6

    stop_first_run(how, project, embedded)

    submitted = {a: e for a, e in project.entries().items() if e.state == "submitted"}
    assert len(submitted) == WIDTH and len(project.entries()) == WIDTH
    assert all(e.task_id and MARK in e.task_id for e in submitted.values())
    assert project.images() == []
    assert plan_summary(seedflow, project) == {"resume": WIDTH, "create": 6 - WIDTH}

    again = seedflow("apply", str(project.pipeline), "--yes")

    assert again.code == 0, again.text
    assert "not found" not in again.text.lower()
    assert sorted(events(again.err, "resume")) == sorted(submitted)
    (second,) = Recorded.started
    # paid once per combination over both runs: the first run's three, the second's three
    assert second.counters.creates == 6 - WIDTH
    assert set(tasks_by_address(second, project)) == set(addresses) - set(submitted)
    assert f"{6 - WIDTH} tasks created" in again.out
    entries = project.entries()
    assert {a: entries[a].task_id for a in submitted} == {
        a: e.task_id for a, e in submitted.items()}
    assert {e.attempts for e in entries.values()} == {1}
    project.assert_intact(addresses)
    assert all(i.url.startswith(second.address) for e in entries.values() for i in e.images)
    assert plan_summary(seedflow, project) == {"unchanged": 6}


def forge(project: Project, task_ids: dict[str, str]) -> None:
    """Edit the lockfile (and its journal) as a pull request could: old task id → new."""
    for path in (project.lock, journal_path(project.lock)):
        if path.exists():
            text = path.read_text(encoding="utf-8")
            for old, new in task_ids.items():
                text = text.replace(json.dumps(old), json.dumps(new))
            path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_forged_task_id_in_the_lock_fails_its_combination_cleanly(
        provider: str, project: Project, embedded: dict[str, str], seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the forged ids' entries were submitted seconds ago: without this, each "not found" would
    # be polled for the default grace period (ten minutes) before the task is declared lost
    monkeypatch.setenv("SEEDFLOW_NOT_FOUND_GRACE", "0.5")
    addresses = project.write(provider=provider)
    stop_first_run("sigkill", project, embedded, width=4)
    submitted = {a: e for a, e in project.entries().items() if e.state == "submitted"}
    assert len(submitted) == 4
    (damaged, oversized, unsendable, strange) = sorted(submitted)
    genuine = submitted[damaged].task_id or ""
    head = genuine[:genuine.index(MARK) + len(MARK)]
    middle = len(genuine) // 2
    forged = {
        damaged: genuine[:middle] + ("B" if genuine[middle] == "A" else "A") + genuine[middle + 1:],
        oversized: head + "A" * (ID_MAX + 1 - len(head)),  # too long for the simulator
        unsendable: head + "A" * 70_000,  # too long for any URL (httpx refuses it)
        strange: head + "../../files/x?y=%2F&z=\u00e9",
    }
    forge(project, {submitted[a].task_id or "": forged[a] for a in forged})
    assert {a: project.entries()[a].task_id for a in forged} == forged

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 1, result.text
    assert "Traceback" not in result.text and not project.crash_log.exists()
    failed = sorted(events(result.err, "failed"))
    assert failed == sorted(forged), result.err
    for address in forged:
        row = next(line for line in result.out.splitlines()
                   if line.startswith(f"  {address}: "))
        assert "no such task" in row and "the task is lost" in row, row
        entry = project.entries()[address]
        assert entry.state == "failed" and entry.task_id == forged[address]
    (second,) = Recorded.started
    assert second.counters.creates == len(addresses) - 4  # the forged ones: no new create
    entries = project.entries()
    for address in set(addresses) - set(forged):  # nothing else affected
        entry = entries[address]
        assert entry.state == "succeeded", address
        assert [file_sha256(project.root / i.path) for i in entry.images] == [
            i.sha256 for i in entry.images]
    assert plan_summary(seedflow, project) == {"unchanged": len(addresses) - 4, "create": 4}
