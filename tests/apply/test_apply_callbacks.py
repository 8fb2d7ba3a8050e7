"""Apikley callbacks (SEEDFLOW_CALLBACKS=1): the provider's POST wakes the task's poll at once;
one poll confirms the state, so results never come from a callback alone. Forged callbacks only
wake polls, leave a bounded trace, and a flood of connections leaves apply its descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from applykit import Project, Run, subprocess_env, wait_for
from hostile import answered

from seedflow.apply.wakeups import EARLY, Callbacks, Wakeups
from seedflow.providers.base import TaskState, TaskStatus
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


@pytest.mark.parametrize(("listen", "said"), [
    ("nohost.invalid:0", "cannot receive callbacks at SEEDFLOW_CALLBACK_LISTEN=nohost.invalid:0"),
    ("127.0.0.1:{taken}", "Address already in use"),
    ("127.0.0.1:99999", "must be HOST:PORT"),
    ("127.0.0.1", "must be HOST:PORT"),
])
def test_a_receiver_that_cannot_listen_is_a_clear_error_before_anything_is_written(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run, listen: str, said: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        env(sim, SEEDFLOW_CALLBACKS="1",
            SEEDFLOW_CALLBACK_LISTEN=listen.format(taken=taken.getsockname()[1]))
        project.write(things=("mug",), seeds=(1,))
        before = sorted(project.root.rglob("*"))

        result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 1, result.text
    assert said in result.err and "Traceback" not in result.err
    assert sim.counters.creates == 0
    assert sorted(project.root.rglob("*")) == before   # no lockfile, no image


@pytest.mark.parametrize("host", ["[::1]", "localhost"])
def test_the_receiver_listens_on_a_bracketed_ipv6_address_or_a_name(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run, host: str) -> None:
    env(sim, SEEDFLOW_CALLBACKS="1", SEEDFLOW_CALLBACK_LISTEN=f"{host}:0",
        SEEDFLOW_POLL_INTERVAL="30", SEEDFLOW_POLL_MAX="30")
    addresses = project.write(things=("mug",), seeds=(1, 2))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.callbacks_sent == len(addresses)   # they reached the receiver
    project.assert_intact(addresses)


# --- what a forger can do: wake polls, nothing more, and never starve apply ------------------

SUCCEEDED = TaskState(TaskStatus.SUCCEEDED, ("https://attacker.test/x.png",))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


class Forger(threading.Thread):
    """POSTs forged callbacks to the receiver on ``port`` while apply runs: for each task the
    simulator made, a "success" pointing at an attacker's URL; between them, 1 MB and unknown
    task ids."""

    def __init__(self, sim: Simulator, port: int) -> None:
        super().__init__(daemon=True)
        self.sim = sim
        self.url = f"http://127.0.0.1:{port}/callback"
        self.accepted: set[str] = set()
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=2.0) as http:
            while not self.done.wait(0.01):
                for task_id in [*(t for t in list(self.sim.tasks) if t not in self.accepted),
                                "t" * (1 << 20), f"unknown_{time.monotonic_ns()}"]:
                    self._send(http, task_id)

    def _send(self, http: httpx.Client, task_id: str) -> None:
        record = {"taskId": task_id, "state": "success", "failCode": "", "failMsg": "",
                  "resultJson": json.dumps({"resultUrls": list(SUCCEEDED.image_urls)})}
        with contextlib.suppress(httpx.HTTPError):
            response = http.post(self.url, json={"code": 200, "msg": "success",
                                                 "data": record})
            if response.status_code == 200 and task_id in self.sim.tasks:
                self.accepted.add(task_id)


def test_forged_callbacks_during_apply_only_wake_polls(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run) -> None:
    sim = make_sim(latency=0.5)
    port = free_port()
    env(sim, SEEDFLOW_CALLBACKS="1", SEEDFLOW_CALLBACK_LISTEN=f"127.0.0.1:{port}")
    addresses = project.write()
    forger = Forger(sim, port)
    forger.start()
    try:
        result = seedflow("apply", str(project.pipeline), "--yes")
    finally:
        forger.done.set()
        forger.join()

    assert result.code == 0, result.text
    assert len(forger.accepted) == len(addresses)   # each task got a forged "success"
    project.assert_intact(addresses)                 # and the lock has the provider's images
    assert "attacker.test" not in project.lock.read_text(encoding="utf-8") + result.text
    assert "Traceback" not in result.err
    assert all(image.url.startswith(sim.base_url)
               for entry in project.entries().values() for image in entry.images)


FD_LIMIT = 256
LOW_FD_LIMIT = (
    "import resource, runpy, sys\n"
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))\n"
    "sys.argv = ['seedflow', *sys.argv[1:]]\n"
    "runpy.run_module('seedflow', run_name='__main__')\n")


def test_a_flood_of_connections_leaves_apply_its_file_descriptors(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project) -> None:
    sim = make_sim(latency=3.0)   # the flood is in place before the images are ready
    port = free_port()
    variables = env(sim, SEEDFLOW_CALLBACKS="1", SEEDFLOW_CALLBACK_LISTEN=f"127.0.0.1:{port}")
    addresses = project.write()
    run = subprocess.Popen([sys.executable, "-c", LOW_FD_LIMIT, "apply", "p.yaml", "--yes"],
                           cwd=project.root, env=subprocess_env(variables), text=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    flood: list[socket.socket] = []
    try:
        wait_for(lambda: reachable(port) or run.poll() is not None, what="the receiver")
        deadline = time.monotonic() + 10.0
        while len(flood) < FD_LIMIT + 144 and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=1.0))
        ready = sim.counters.downloads
        turned_away = answered(flood, len(flood) - 64, within=3.0)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        for sock in flood:
            sock.close()

    assert len(flood) > FD_LIMIT   # more connections than apply has descriptors,
    assert ready < len(addresses)  # in place while images were still to download
    assert run.returncode == 0, out + err
    assert "Too many open files" not in out + err
    assert "Traceback" not in err and "Exception" not in err
    project.assert_intact(addresses)
    assert len(turned_away) >= len(flood) - 64    # the receiver held at most 64


# --- the wake-up state a forger leaves behind -----------------------------------------------

def test_callbacks_for_tasks_nobody_polls_are_forgotten() -> None:
    async def main() -> tuple[int, float]:
        queue: Callbacks = asyncio.Queue()
        wakeups = Wakeups(queue)
        async with wakeups.listening():
            for n in range(10_000):
                queue.put_nowait((f"forged_{n}", SUCCEEDED))
            while not queue.empty():
                await asyncio.sleep(0)
            await asyncio.sleep(0)
            remembered = wakeups.remembered
            started = time.monotonic()
            await wakeups.pause("forged_9999", 30)   # news that came before the first poll
            return remembered, time.monotonic() - started

    remembered, took = asyncio.run(main())
    assert remembered == EARLY
    assert took < 1


def test_a_callback_wakes_the_poll_of_its_own_task() -> None:
    async def main() -> float:
        queue: Callbacks = asyncio.Queue()
        wakeups = Wakeups(queue)
        async with wakeups.listening():
            started = time.monotonic()
            waiting = asyncio.create_task(wakeups.pause("task_a", 30))
            await asyncio.sleep(0.05)
            queue.put_nowait(("task_b", SUCCEEDED))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            queue.put_nowait(("task_a", SUCCEEDED))
            await waiting
            return time.monotonic() - started

    assert asyncio.run(main()) < 1
