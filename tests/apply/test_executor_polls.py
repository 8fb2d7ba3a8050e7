"""The executor's poll loop on answers that are not a task state (issue 12): "not found" is
polled through a grace period counted from the entry's ``submitted_at`` (a time, not a count of
polls), and a key refused while polling stops new creates on that provider."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from seedflow.apply.executor import Executor, Settings, Tally
from seedflow.apply.files import OutputFiles
from seedflow.apply.progress import Finished, Outcome
from seedflow.lock.model import LockEntry, State
from seedflow.outputs import OutputRoot
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, PlanItem
from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus
from seedflow.providers.errors import AuthFailed, ProviderError, TaskNotFound

LIMITS = ProviderLimits(create_rate=None, concurrency=1, first_poll=0.001, max_poll=0.01)


def settings(grace: float) -> Settings:
    return Settings(poll_first=0.001, poll_max=0.01, retry_base=0.001, not_found_grace=grace)


class Scripted:
    """A provider whose creates return ``t1``, ``t2``...; each fetch takes the next answer of
    its task's script (then stays at the last one)."""

    name = "fake"
    limits = LIMITS

    def __init__(self, scripts: dict[str, list[TaskState | ProviderError]]) -> None:
        self.scripts = scripts
        self.creates = 0
        self.fetches: list[str] = []

    async def submit(self, request: dict[str, Any]) -> str:
        self.creates += 1
        return f"t{self.creates}"

    async def fetch(self, task_id: str) -> TaskState:
        self.fetches.append(task_id)
        script = self.scripts[task_id]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


class Records:
    def __init__(self) -> None:
        self.entries: dict[str, LockEntry] = {}

    async def record(self, entry: LockEntry) -> None:
        self.entries[entry.fingerprint] = entry

    async def drop(self, fingerprint: str) -> None:
        self.entries.pop(fingerprint, None)


class Hooks:
    def __init__(self) -> None:
        self.ends: list[tuple[str, Finished]] = []

    def started(self, item: PlanItem) -> None:
        return None

    def submitted(self, address: str, task_id: str) -> None:
        return None

    def retrying(self, address: str, reason: str) -> None:
        return None

    def finished(self, item: PlanItem, result: Finished) -> None:
        self.ends.append((item.address, result))


def combination(n: int) -> Combination:
    return Combination(asset="c", address=f"c[n={n}]", provider="fake", vars={"n": n},
                       request={"prompt": f"p{n}"}, fingerprint=f"{n:032x}",
                       outputs=(f"out/c{n}.png",), unsent={})


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


def run(tmp_path: Path, items: list[PlanItem], client: Scripted, grace: float
        ) -> tuple[Tally, Records, Hooks]:
    records, hooks = Records(), Hooks()
    files = OutputFiles(OutputRoot(tmp_path, tmp_path / "out"))

    async def go() -> Tally:
        cdn = httpx.MockTransport(lambda request: httpx.Response(200, content=png()))
        async with httpx.AsyncClient(transport=cdn) as http:
            executor = Executor(files=files, recorder=records, clients={"fake": client},
                                downloads=http, settings=settings(grace), hooks=hooks)
            return await executor.run(items)

    return asyncio.run(go()), records, hooks


def missing() -> TaskNotFound:
    return TaskNotFound('fake: reading task failed (HTTP 200, code 422: "recordInfo is null")',
                        provider="fake")


DONE = TaskState(TaskStatus.SUCCEEDED, ("https://cdn.test/1.png",))


def test_not_found_is_polled_through_the_grace_period_then_collected(tmp_path: Path) -> None:
    client = Scripted({"t1": [missing()] * 12 + [DONE]})
    tally, _, _ = run(tmp_path, [PlanItem(Action.CREATE, combination(1), None)], client,
                      grace=60.0)
    assert tally.done == ["c[n=1]"] and tally.creates == 1
    assert len(client.fetches) == 13  # far more than a few "not found" answers


def test_after_the_grace_period_the_task_is_lost_once(tmp_path: Path) -> None:
    client = Scripted({"t1": [missing()]})
    tally, records, _ = run(tmp_path, [PlanItem(Action.CREATE, combination(1), None)], client,
                            grace=1.2)  # submitted_at is whole seconds: at least 0.2 s of polls
    assert tally.creates == 1 and len(client.fetches) > 3
    [(_, reason)] = tally.failed
    assert "recordInfo is null" in reason and "the task is lost" in reason
    assert records.entries[f"{1:032x}"].state is State.FAILED


def resumed(n: int, submitted_at: str | None) -> PlanItem:
    combo = combination(n)
    entry = LockEntry(fingerprint=combo.fingerprint, address=combo.address, asset="c",
                      provider="fake", state=State.SUBMITTED, request=combo.request,
                      attempts=1, unsent={}, task_id=f"t{n}", submitted_at=submitted_at)
    return PlanItem(Action.RESUME, combo, entry)


def test_a_task_resumed_long_after_its_create_is_lost_at_once(tmp_path: Path) -> None:
    old = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client = Scripted({"t1": [missing()]})
    tally, _, _ = run(tmp_path, [resumed(1, old)], client, grace=600.0)
    assert client.fetches == ["t1"]
    assert [a for a, _ in tally.failed] == ["c[n=1]"]


def test_an_id_that_can_never_be_found_is_lost_at_once(tmp_path: Path) -> None:
    never = missing()
    never.may_appear = False
    client = Scripted({"t1": [never]})
    tally, _, _ = run(tmp_path, [PlanItem(Action.CREATE, combination(1), None)], client,
                      grace=600.0)
    assert client.fetches == ["t1"] and len(tally.failed) == 1


def test_401_while_polling_stops_new_creates_and_collects_the_rest(tmp_path: Path) -> None:
    revoked = AuthFailed("fake: reading task t1 failed (HTTP 401); check FAKE_API_KEY",
                         provider="fake")
    client = Scripted({"t1": [revoked]})
    items = [PlanItem(Action.CREATE, combination(n), None) for n in (1, 2, 3)]
    items.insert(0, resumed(9, None))  # submitted earlier: still collected
    client.scripts["t9"] = [TaskState(TaskStatus.RUNNING), DONE]
    tally, records, hooks = run(tmp_path, items, client, grace=600.0)
    outcomes = {address: result.outcome for address, result in hooks.ends}
    assert outcomes == {"c[n=9]": Outcome.DONE, "c[n=1]": Outcome.FAILED,
                        "c[n=2]": Outcome.NOT_STARTED, "c[n=3]": Outcome.NOT_STARTED}
    assert client.creates == 1
    assert records.entries[f"{1:032x}"].state is State.SUBMITTED  # resumed later, for free
    assert tally.not_started[0] == ("c[n=2]", f"not started: {revoked.message}")
