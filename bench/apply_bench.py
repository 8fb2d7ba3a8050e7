"""``apply`` against the simulator: throughput, rate pacing, progress-write cost, and the naive
sequential script a user would write by hand, all measured in one run.

The simulator runs in this process (a thread); ``apply`` runs in a child process, so the CPU
figure is the client's alone.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fixtures import apply_pipeline, orphan_lock
from bench.measure import Run, run_seedflow
from seedflow.sim import SimConfig, Simulator

KEY = "bench-key-not-secret"


@dataclass(frozen=True)
class Throughput:
    tasks: int
    latency: float
    concurrency: int
    run: Run
    polls: int
    creates: int

    @property
    def ideal(self) -> float:
        return self.tasks * self.latency / self.concurrency

    @property
    def ratio(self) -> float:
        return self.ideal / self.run.seconds

    @property
    def cpu_ms_per_task(self) -> float:
        return 1000 * self.run.cpu / self.tasks


def _env(sim: Simulator, concurrency: int, latency: float, rate: str = "0") -> dict[str, str]:
    return {"APIKLEY_API_KEY": KEY, "SEEDFLOW_APIKLEY_BASE_URL": sim.base_url,
            "SEEDFLOW_APIKLEY_RATE": rate, "SEEDFLOW_CONCURRENCY": str(concurrency),
            "SEEDFLOW_POLL_INTERVAL": str(latency), "SEEDFLOW_POLL_MAX": "5"}


def _apply(pipeline: Path, env: dict[str, str]) -> Run:
    run = run_seedflow(["apply", str(pipeline), "--yes"], env=env)
    if run.code != 0:
        raise RuntimeError(f"apply failed: {run.stdout[-2000:]} {run.stderr[-2000:]}")
    return run


def throughput(scratch: Path, tasks: int, latency: float, concurrency: int) -> Throughput:
    pipeline = apply_pipeline(scratch, tasks, name=f"throughput-{tasks}-{concurrency}")
    with Simulator(SimConfig(latency=latency)) as sim:
        run = _apply(pipeline, _env(sim, concurrency, latency))
        counters = sim.counters
    return Throughput(tasks, latency, concurrency, run, counters.polls, counters.creates)


@dataclass(frozen=True)
class RateFigure:
    tasks: int
    limit: tuple[int, float]
    first_to_last: float
    rejected_429: int

    @property
    def fastest_allowed(self) -> float:
        count, window = self.limit
        return (math.ceil(self.tasks / count) - 1) * window

    @property
    def fraction(self) -> float:
        return self.fastest_allowed / self.first_to_last


def rate_limited(scratch: Path, tasks: int, limit: tuple[int, float]) -> RateFigure:
    """With the simulator enforcing ``limit`` and seedflow pacing to it: the achieved create rate
    against the fastest the limit allows (its first ``count`` at once, then ``count`` a window)."""
    pipeline = apply_pipeline(scratch, tasks, name="rate")
    creates: list[float] = []
    lock = threading.Lock()

    def log(line: str) -> None:
        if line.startswith("POST /api/v1/jobs/createTask 200"):
            with lock:
                creates.append(time.monotonic())

    with Simulator(SimConfig(latency=0.2, rate_limit=limit), log=log) as sim:
        rate = f"{limit[0]}/{limit[1]:g}s"
        _apply(pipeline, _env(sim, 100, 0.2, rate=rate))
        rejected = sim.counters.rejected_429
    return RateFigure(tasks, limit, max(creates) - min(creates), rejected)


@dataclass(frozen=True)
class ProgressFigure:
    tasks: int
    history: int
    empty: Run
    large: Run

    @property
    def ratio(self) -> float:
        return self.large.seconds / self.empty.seconds


def progress_cost(scratch: Path, tasks: int, history: int, latency: float) -> ProgressFigure:
    """The same apply on an empty lock and on a lock already holding ``history`` entries."""
    runs = []
    for name in ("empty", "large"):
        pipeline = apply_pipeline(scratch, tasks, name=f"progress-{name}")
        if name == "large":
            orphan_lock(pipeline.with_suffix(".lock"), history)
        with Simulator(SimConfig(latency=latency)) as sim:
            runs.append(_apply(pipeline, _env(sim, 100, latency)))
    return ProgressFigure(tasks, history, runs[0], runs[1])


@dataclass(frozen=True)
class Baseline:
    tasks: int
    latency: float
    seconds: float
    polls: int

    @property
    def per_task(self) -> float:
        return self.seconds / self.tasks


def naive_baseline(scratch: Path, tasks: int, latency: float, tick: float = 2.0) -> Baseline:
    """What a user writes by hand: submit, poll every ``tick`` seconds, download, next one."""
    out = scratch / "naive"
    out.mkdir(exist_ok=True)
    headers = {"Authorization": f"Bearer {KEY}"}
    with Simulator(SimConfig(latency=latency)) as sim, httpx.Client(headers=headers) as http:
        started = time.perf_counter()
        for n in range(tasks):
            body = {"model": "bytedance/seedream-v4-text-to-image",
                    "input": {"prompt": f"Benchmark image {n}", "image_size": "square_hd"}}
            task = http.post(f"{sim.base_url}/api/v1/jobs/createTask", json=body).json()
            task_id = task["data"]["taskId"]
            while True:
                time.sleep(tick)
                record = http.get(f"{sim.base_url}/api/v1/jobs/recordInfo",
                                  params={"taskId": task_id}).json()["data"]
                if record["state"] in ("success", "fail"):
                    break
            for i, url in enumerate(json.loads(record["resultJson"])["resultUrls"]):
                (out / f"{n}-{i}.png").write_bytes(http.get(url).content)
        seconds = time.perf_counter() - started
        polls = sim.counters.polls
    return Baseline(tasks, latency, seconds, polls)
