"""``apply`` against the simulator: throughput, rate pacing, progress-write cost, and the naive
sequential script a user would write by hand, all measured in one run.

The simulator runs in this process (a thread); ``apply`` runs in a child process, so the CPU
figure is the client's alone.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fixtures import apply_pipeline, orphan_lock
from bench.measure import Run, run_seedflow
from seedflow.apply.pacing import RateShare, shared_rate
from seedflow.plan.shard import shard_sizes
from seedflow.project import open_spec
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
    creates, log = _create_times()
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


# -- issue #13: default polling and shards sharing one account ---------------------------------


def _polling_env(sim: Simulator, concurrency: int, base: Path | None) -> dict[str, str]:
    """Default polling: no SEEDFLOW_POLL_* (the provider's own hints), no create pacing."""
    env = {"APIKLEY_API_KEY": KEY, "SEEDFLOW_APIKLEY_BASE_URL": sim.base_url,
           "SEEDFLOW_APIKLEY_RATE": "0", "SEEDFLOW_CONCURRENCY": str(concurrency),
           "SEEDFLOW_POLL_INTERVAL": "", "SEEDFLOW_POLL_MAX": ""}   # empty: not set
    return env | ({"PYTHONPATH": str(base)} if base else {})


@dataclass(frozen=True)
class PollingFigure:
    after: Throughput
    before: Throughput | None   # the same apply with the ``--base`` checkout's seedflow


def default_polling(scratch: Path, tasks: int, latency: float, concurrency: int,
                    base: Path | None, repeats: int = 3) -> PollingFigure:
    """``apply`` with the provider's default polling (Apikley's, first look at 3 s) against
    tasks that take ``latency``: this checkout and ``base``, interleaved, ``repeats`` times
    each; the median run of each."""
    runs: dict[Path | None, list[Throughput]] = {None: [], base: []}
    for repeat in range(repeats):
        for code in [None, base] if base else [None]:
            name = f"polling-{tasks}-{latency:g}-{'before' if code else 'after'}-{repeat}"
            pipeline = apply_pipeline(scratch, tasks, name=name)
            with Simulator(SimConfig(latency=latency)) as sim:
                run = _apply(pipeline, _polling_env(sim, concurrency, code))
                counters = sim.counters
            runs[code].append(Throughput(tasks, latency, concurrency, run, counters.polls,
                                         counters.creates))
    return PollingFigure(_median(runs[None]), _median(runs[base]) if base else None)


def _median(runs: list[Throughput]) -> Throughput:
    """The run with the median wall time (so its other figures belong to one real run)."""
    return sorted(runs, key=lambda t: t.run.seconds)[len(runs) // 2]


@dataclass(frozen=True)
class ShardRun:
    creates: int
    rejected_429: int
    first_to_last: float
    failed_shards: int = 0   # the base checkout's shards could delete each other's downloads


@dataclass(frozen=True)
class ShardFigure:
    tasks: int
    shards: int
    limit: tuple[int, float]
    after: ShardRun
    before: ShardRun | None
    sizes: tuple[int, ...] = ()   # combinations per shard

    @property
    def split_best(self) -> float:
        """The soonest the static split (each shard its part of the limit) can end."""
        return max((math.ceil(n / part[0]) - 1) * part[1]
                   for n, part in zip(self.sizes, _parts(self), strict=True))

    @property
    def fastest_allowed(self) -> float:
        count, window = self.limit
        return (math.ceil(self.tasks / count) - 1) * window

    def fraction(self, run: ShardRun) -> float:
        """The account's achieved create rate as a share of its limit."""
        return self.fastest_allowed / run.first_to_last


def shards_on_one_account(scratch: Path, tasks: int, shards: int, limit: tuple[int, float],
                          base: Path | None) -> ShardFigure:
    """``shards`` applies (``--shard K/N``) at once, on one simulated account that takes
    ``limit`` creates per window and answers 429 beyond it; each paces to the account's
    published rate (SEEDFLOW_APIKLEY_RATE), as a user would configure it."""
    runs = [_shard_run(scratch, tasks, shards, limit, code)
            for code in ([None, base] if base else [None])]
    pipeline = apply_pipeline(scratch, tasks, name="shards-sizes")   # the same combinations
    sizes = shard_sizes((c.fingerprint for c in open_spec(pipeline).combinations), shards)
    return ShardFigure(tasks, shards, limit, runs[0], runs[1] if base else None, sizes)


def _create_times() -> tuple[list[float], Callable[[str], None]]:
    """When each create the simulator accepted arrived, and the log function that records it."""
    creates: list[float] = []
    lock = threading.Lock()

    def log(line: str) -> None:
        if line.startswith("POST /api/v1/jobs/createTask 200"):
            with lock:
                creates.append(time.monotonic())

    return creates, log


def _shard_run(scratch: Path, tasks: int, shards: int, limit: tuple[int, float],
               code: Path | None) -> ShardRun:
    pipeline = apply_pipeline(scratch, tasks, name=f"shards-{'before' if code else 'after'}")
    creates, log = _create_times()
    with Simulator(SimConfig(latency=0.2, rate_limit=limit), log=log) as sim:
        env = {**os.environ, **_env(sim, 100, 0.2, rate=f"{limit[0]}/{limit[1]:g}s")}
        if code:
            env["PYTHONPATH"] = str(code)
        procs = [subprocess.Popen([sys.executable, "-m", "seedflow", "apply", str(pipeline),
                                   "--yes", "--shard", f"{k}/{shards}"], env=env,
                                  cwd=pipeline.parent,   # not this checkout: -m looks in cwd
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for k in range(1, shards + 1)]
        outputs = [proc.communicate()[0] for proc in procs]
        counters = sim.counters
    failed = [out.rsplit("Failed:", 1)[-1].strip() for proc, out in zip(procs, outputs,
                                                                          strict=True)
              if proc.returncode]
    if failed and not code:
        raise RuntimeError(f"a shard failed: {failed}")
    return ShardRun(counters.creates, counters.rejected_429, max(creates) - min(creates),
                    len(failed))


BEFORE_AFTER = ("*before*: the checkout `--base` names (here `git worktree add /tmp/base "
                "bbe23c0`, the commit before issue #13), *after*: this one; both in the same run "
                "(polling: the median of three runs each, interleaved).")


def polling_section(figures: list[PollingFigure]) -> list[str]:
    """The rows of the default-polling table (``before``: the ``--base`` checkout)."""
    rows = [BEFORE_AFTER, "",
            "| tasks N | generation L | concurrency C | ideal N·L/C | before | after | share of "
            "ideal before → after | polls/task before → after | client CPU/task after |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        a, b = f.after, f.before
        rows.append(
            f"| {a.tasks} | {a.latency:g} s | {a.concurrency} | {a.ideal:.1f} s | "
            f"{f'{b.run.seconds:.1f} s' if b else '–'} | {a.run.seconds:.1f} s | "
            f"{f'{b.ratio:.2f} → ' if b else ''}**{a.ratio:.2f}**"
            f"{f' ({b.run.seconds / a.run.seconds:.1f}× faster)' if b else ''} | "
            f"{f'{b.polls / b.creates:.2f} → ' if b else ''}**{a.polls / a.creates:.2f}** | "
            f"{a.cpu_ms_per_task:.1f} ms |")
    return rows


def shards_section(f: ShardFigure) -> list[str]:
    count, window = f.limit
    lines = [BEFORE_AFTER, "",
             f"{f.shards} × `apply --shard K/{f.shards}` at once over {f.tasks} creates, each "
             f"told the account's rate (`SEEDFLOW_APIKLEY_RATE={count}/{window:g}s`), against one "
             f"simulated account that takes {count} creates per {window:g} s and answers 429 "
             f"beyond. The fastest the limit allows is {f.fastest_allowed:.0f} s first to last; "
             f"the shards hold {' / '.join(map(str, f.sizes))} combinations, and at their parts "
             f"of the limit ({' / '.join(str(p[0]) for p in _parts(f))} per {window:g} s) the "
             f"largest needs {f.split_best:.0f} s, so a static split can reach at most "
             f"{f.fastest_allowed / f.split_best:.2f} of the limit here.",
             "", "| | 429 answers | creates | first to last create | share of the limit "
             "| shards that failed |", "|---|---:|---:|---:|---:|---:|"]
    for name, run in (("before", f.before), ("after", f.after)):
        if run is not None:
            lines.append(f"| {name} | **{run.rejected_429}** | {run.creates} | "
                         f"{run.first_to_last:.1f} s | **{f.fraction(run):.2f}** | "
                         f"{run.failed_shards} |")
    return lines


def _parts(f: ShardFigure) -> list[tuple[int, float]]:
    return [shared_rate(f.limit, RateShare(k, f.sizes)) or f.limit
            for k in range(1, f.shards + 1)]
