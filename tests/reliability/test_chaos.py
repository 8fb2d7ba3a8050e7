"""Chaos: every fault the simulator can serve, at once, plus ``kill -9`` at random moments.

A few hundred combinations are applied by ``python -m seedflow apply --yes --retry-uncertain``
subprocesses against a simulator running in this process. The first rounds are SIGKILLed after
a random delay (seeded RNG); the following rounds run to the end, until one exits 0. Then:

- every combination is ``succeeded`` in the lock, each image on disk with its recorded sha256,
  and nothing else is in the output folder;
- money: every task the simulator recorded (paid) is either the one the lock holds for its
  combination, a generation that failed (retrying one is a new paid task, counted in
  ``attempts``), or a re-submission of a create that the lock marked ``uncertain`` before an
  ``--retry-uncertain`` apply; per combination, the paid duplicates are at most the number of
  rounds that started with it uncertain;
- the lockfile loads after every round, killed or not; at the end each of its lines validates
  against ``schemas/lock.schema.json`` and ``plan`` shows everything unchanged;
- no temporary file is left anywhere (``*.part``, ``*.tmp``, ``*.journal``, ``*.lck``).

Size knobs: ``SEEDFLOW_CHAOS_N`` (combinations, default 200), ``SEEDFLOW_CHAOS_KILLS`` (killed
rounds, default 6), ``SEEDFLOW_CHAOS_FAULTS`` (a factor on every fault rate, default 1) and
``SEEDFLOW_CHAOS_SEED`` (the RNG seed of the kill delays and of the simulator's fault draws).
The simulator's threads make a run only roughly repeatable.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from environment import scrubbed
from jsonschema import Draft202012Validator

from seedflow.lock.model import LockEntry
from seedflow.lock.read import read_lock
from seedflow.outputs import file_sha256
from seedflow.sim import Fault, SimConfig, Simulator

from .conftest import Run

ROOT = Path(__file__).resolve().parents[2]
LOCK_SCHEMA = ROOT / "schemas" / "lock.schema.json"

N = int(os.environ.get("SEEDFLOW_CHAOS_N", "200"))
KILLED_ROUNDS = int(os.environ.get("SEEDFLOW_CHAOS_KILLS", "6"))
SEED = int(os.environ.get("SEEDFLOW_CHAOS_SEED", "20240917"))
FAULT_SCALE = float(os.environ.get("SEEDFLOW_CHAOS_FAULTS", "1"))  # multiplies FAULT_RATES
CLEAN_ROUNDS = 12            # rounds without kills before the test gives up
# When a killed round dies: one in four at a random moment of start-up (imports, lock, plan),
# the others a random time after the simulator sees its first request, of up to 0.3 s plus 6 s
# times the share of combinations not yet succeeded, so that most kills land in the middle of
# creates, polls, downloads and journal writes, and some after the work, during compaction.
EARLY_KILL = (0.05, 1.0)
KILL_AFTER_FIRST_REQUEST = (0.3, 6.0)
ROUND_TIMEOUT = 180.0

FAULT_RATES: dict[Fault, float] = {
    Fault.HTTP_429: 0.02,            # Retry-After: 1, honoured by the client
    Fault.HTTP_500: 0.02,
    Fault.HTTP_503: 0.02,
    # On a create both drops are ambiguous (the client cannot tell them apart): the combination
    # is recorded uncertain and re-sent only by the next --retry-uncertain apply. Only the
    # second one is a paid duplicate. On polls and downloads they are simply retried.
    Fault.DROP_BEFORE_RECORD: 0.01,
    Fault.DROP_AFTER_RECORD: 0.01,
    # The client's read timeout is fixed (runtime.TIMEOUT, 60 s; no environment variable sets
    # it), so a short slow_seconds only delays the answer; it never times the client out.
    Fault.SLOW_RESPONSE: 0.02,
    Fault.GENERATION_FAILED: 0.03,   # apply retries once (a new paid task), then records failed
    # A 404 on a result file reads as "the URL expired": that apply reports the combination
    # failed, but its entry stays `submitted`, so the next apply resumes it (free). Kept rare.
    Fault.DOWNLOAD_404: 0.005,
    Fault.DOWNLOAD_TRUNCATED: 0.02,
}
assert set(FAULT_RATES) == set(Fault), "every fault class is part of the chaos"

TEMPORARY = ("*.part", "*.tmp", "*.journal", "*.lck")


def pipeline_text(n: int) -> str:
    """Two assets: one image per task (n - n//4 of them) and two per task (n//4)."""
    pairs = n // 4
    singles = n - pairs
    return "\n".join([
        "version: 1",
        "provider: apikley",
        "output_dir: out",
        "defaults:",
        "  resolution: 1K",
        "assets:",
        "  singles:",
        '    prompt: "chaos single number {{ n }}"',
        "    matrix:",
        f"      n: [{', '.join(map(str, range(singles)))}]",
        "    seed: 7",
        '    output: "singles/{{ n }}.png"',
        "  pairs:",
        '    prompt: "chaos pair number {{ n }}"',
        "    aspect: '16:9'",
        "    images: 2",
        "    matrix:",
        f"      n: [{', '.join(map(str, range(pairs)))}]",
        '    output: "pairs/{{ n }}-{{ index }}.png"',
        "",
    ])


def request_key(request: Mapping[str, Any]) -> str:
    body = {k: v for k, v in request.items() if k != "callBackUrl"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


@dataclass
class Round:
    number: int
    killed_after: float | None
    code: int
    seconds: float
    out: str
    err: str
    creates: int = 0                                    # tasks the simulator recorded
    states: Counter[str] = field(default_factory=Counter)  # lock entry states afterwards


@dataclass
class Chaos:
    root: Path
    sim: Simulator
    env: dict[str, str]
    rng: random.Random
    rounds: list[Round] = field(default_factory=list)
    # fingerprint → rounds that started with its entry uncertain (each such round, run with
    # --retry-uncertain, may re-send it: an explicit, reported, possibly paid retry)
    uncertain_rounds: Counter[str] = field(default_factory=Counter)

    @property
    def lock(self) -> Path:
        return self.root / "p.lock"

    def entries(self) -> dict[str, LockEntry]:
        return read_lock(self.lock).entries

    def run(self, kill: bool) -> Round:
        entries = self.entries()
        for entry in entries.values():
            if entry.state == "uncertain":
                self.uncertain_rounds[entry.fingerprint] += 1
        remaining = N - sum(1 for e in entries.values() if e.state == "succeeded")
        number = len(self.rounds) + 1
        logs = self.root.parent / "logs"
        logs.mkdir(exist_ok=True)
        out_path, err_path = logs / f"round-{number}.out", logs / f"round-{number}.err"
        early = self.rng.random() < 0.25
        base, scale = KILL_AFTER_FIRST_REQUEST
        delay = (self.rng.uniform(*EARLY_KILL) if early
                 else self.rng.uniform(0, base + scale * remaining / N))
        creates = self.sim.counters.creates
        started = time.monotonic()
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "seedflow", "apply", "p.yaml", "--yes",
                 "--retry-uncertain"],
                cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            try:
                if kill and not early:
                    self._wait_for_first_request(proc)
                proc.wait(timeout=delay if kill else ROUND_TIMEOUT)
            except subprocess.TimeoutExpired:
                if not kill:
                    proc.kill()
                    proc.wait()
                    raise AssertionError(
                        f"round {number} did not finish in {ROUND_TIMEOUT}s") from None
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        killed = time.monotonic() - started if proc.returncode == -signal.SIGKILL else None
        result = Round(number, killed,
                       proc.returncode, time.monotonic() - started,
                       out_path.read_text(), err_path.read_text())
        result.creates = self.sim.counters.creates - creates
        # the lockfile (and the journal a kill left) loads after every round, and the
        # lockfile itself is always a whole, valid one (compaction replaces it atomically)
        result.states = Counter(e.state for e in self.entries().values())
        if self.lock.exists():
            assert lock_schema_errors(self.lock) == [], f"round {number}"
        if killed is None:  # an apply that ends by itself reports every uncertain create
            unreported = [e.address for e in self.entries().values()
                          if e.state == "uncertain" and f"  {e.address}: " not in result.out]
            assert unreported == [], (f"round {number} left these uncertain without saying so",
                                      result.out)
        self.rounds.append(result)
        return result

    def _wait_for_first_request(self, proc: subprocess.Popen[bytes]) -> None:
        def requests() -> int:
            c = self.sim.counters
            return c.create_requests + c.polls + c.downloads

        before = requests()
        deadline = time.monotonic() + 30
        while requests() == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)

    def describe(self) -> str:
        lines = [f"seed {SEED}, N {N}; simulator {self.sim.counters}"]
        for r in self.rounds:
            how = f"killed after {r.killed_after:.2f}s" if r.killed_after else f"exit {r.code}"
            summary = next((line for line in r.out.splitlines() if line.startswith("Applied")),
                           "")
            states = ", ".join(f"{n} {state}" for state, n in sorted(r.states.items()))
            lines.append(f"  round {r.number}: {how} in {r.seconds:.1f}s, {r.creates} creates; "
                         f"lock: {states}. {summary}")
        return "\n".join(lines)


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[Chaos]:
    root = tmp_path / "project"
    root.mkdir()
    (root / "p.yaml").write_text(pipeline_text(N), encoding="utf-8")
    sim = Simulator(SimConfig(latency=0.15, latency_spread=0.6, seed=SEED,
                              fault_rates={f: min(1.0, r * FAULT_SCALE)
                                           for f, r in FAULT_RATES.items()},
                              slow_seconds=0.3, rate_limit=(60, 1.0)))
    sim.start()
    env = scrubbed(os.environ)
    env.update({
        "APIKLEY_API_KEY": "x",
        "SEEDFLOW_APIKLEY_BASE_URL": sim.base_url,
        "SEEDFLOW_APIKLEY_RATE": "0",     # no client pacing: the simulator's limit answers 429
        "SEEDFLOW_RETRY_BASE": "0.05",
        "SEEDFLOW_POLL_INTERVAL": "0.1",
        "SEEDFLOW_POLL_MAX": "0.5",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    })
    try:
        yield Chaos(root, sim, env, random.Random(SEED))
    finally:
        sim.stop()


@cache
def lock_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(LOCK_SCHEMA.read_text(encoding="utf-8")))


def lock_schema_errors(path: Path) -> list[str]:
    validator = lock_validator()
    lines = path.read_text(encoding="utf-8").splitlines()
    errors = [] if "seedflow_lock" in json.loads(lines[0]) else ["line 1 is not the header"]
    for number, line in enumerate(lines, start=1):
        errors += [f"line {number}: {e.message}" for e in validator.iter_errors(json.loads(line))]
    return errors


def leftovers(folder: Path) -> list[Path]:
    return sorted(p for pattern in TEMPORARY for p in folder.rglob(pattern))


@pytest.mark.slow
def test_chaos_kill_and_faults_end_with_everything_generated_once(
        chaos: Chaos, cli: Run, capsys: pytest.CaptureFixture[str],
        request: pytest.FixtureRequest) -> None:
    def show(text: str) -> None:  # the story of the run, with -s
        if request.config.getoption("capture") == "no":
            with capsys.disabled():
                print(text)

    schedule = [True] * KILLED_ROUNDS + [False] * CLEAN_ROUNDS
    while schedule:
        kill = schedule.pop(0)
        result = chaos.run(kill)
        assert result.code in (0, 1, -signal.SIGKILL), (result.out, result.err,
                                                         chaos.describe())
        assert "Traceback" not in result.out + result.err, chaos.describe()
        if result.code == 0:
            if not kill:
                break
            schedule = [False] * CLEAN_ROUNDS  # done before its kill: one more apply to confirm
    else:
        pytest.fail(f"no apply succeeded in {len(chaos.rounds)} rounds\n{chaos.describe()}\n"
                    f"last output:\n{chaos.rounds[-1].out}")
    time.sleep(0.1)  # let the simulator finish answering requests of killed clients
    story = chaos.describe()
    show(f"\n{story}")
    assert sum(1 for r in chaos.rounds if r.killed_after) >= min(2, KILLED_ROUNDS), story

    # Every combination generated, every image in place with its recorded hash.
    entries = chaos.entries()
    assert len(entries) == N, story
    images = set()
    for entry in entries.values():
        assert entry.state == "succeeded", (entry.address, entry.state, entry.error)
        assert len(entry.images) == (2 if entry.asset == "pairs" else 1), entry.address
        for image in entry.images:
            path = chaos.root / image.path
            assert path.is_file(), path
            assert path.stat().st_size == image.size, path
            assert file_sha256(path) == image.sha256, path
            images.add(path)
    on_disk = {p for p in (chaos.root / "out").rglob("*") if p.is_file()}
    assert on_disk == images, "files in the output folder that the lock does not record"

    # Money: every paid task is accounted for.
    tasks = chaos.sim.tasks
    by_request = {request_key(e.request): e for e in entries.values()}
    assert len(by_request) == N
    locked_ids = {e.task_id for e in entries.values()}
    failed_tasks = 0
    duplicates: Counter[str] = Counter()
    for task in tasks.values():
        owner = by_request.get(request_key(task.request))
        assert owner is not None, f"task {task.id} was sent for no combination: {task.request}"
        if task.id in locked_ids:
            assert not task.fails, (task.id, owner.address)
        elif task.fails:
            failed_tasks += 1
        else:
            duplicates[owner.fingerprint] += 1
    for entry in entries.values():
        assert entry.task_id in tasks, (entry.address, entry.task_id)
        assert duplicates[entry.fingerprint] <= chaos.uncertain_rounds[entry.fingerprint], (
            f"{entry.address} was paid {duplicates[entry.fingerprint]} extra times but was "
            f"uncertain at the start of only {chaos.uncertain_rounds[entry.fingerprint]} "
            f"--retry-uncertain rounds\n{story}")
    creates = chaos.sim.counters.creates
    assert creates == len(tasks)
    assert creates == N + failed_tasks + sum(duplicates.values()), story
    assert sum(duplicates.values()) <= sum(chaos.uncertain_rounds.values()), story
    show(f"paid: {creates} = {N} combinations + {failed_tasks} failed generations + "
         f"{sum(duplicates.values())} re-sent uncertain creates (uncertain at the start "
         f"of a round: {sum(chaos.uncertain_rounds.values())} times)")

    # The lockfile: valid line by line, and the plan has nothing left to do.
    assert lock_schema_errors(chaos.lock) == []
    plan = cli("plan", chaos.root / "p.yaml", "--detailed-exitcode", "--check-hashes")
    assert plan.code == 0, plan.text
    summary = json.loads(cli("plan", chaos.root / "p.yaml", "--format", "json").out)["summary"]
    assert summary["unchanged"] == N and sum(summary.values()) == N, summary

    # Nothing left behind: no temporary file, journal or lock guard anywhere.
    assert leftovers(chaos.root.parent) == []
    assert not (chaos.root.parent / "cache").exists(), "a crash log was written"
