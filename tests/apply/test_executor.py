"""The executor alone: the order of its durable writes (what keeps a user from paying twice),
and one ``finished`` per item, with a scripted provider client and a recorder that records.

Downloads go through ``httpx.MockTransport`` (the executor's HTTP client is injected, as in
httpx's own tests); the end-to-end suites drive the same code over real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from rich.console import Console

from seedflow.apply.executor import Executor, Settings, Tally
from seedflow.apply.files import OutputFiles
from seedflow.apply.progress import Finished, LiveProgress, Outcome
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.outputs import OutputRoot, file_sha256
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, Move, PlanItem
from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    ProviderError,
    RequestRejected,
    RetryLater,
)

FAST = Settings(poll_first=0.001, poll_max=0.01, retry_base=0.001)
LIMITS = ProviderLimits(create_rate=None, concurrency=1, first_poll=0.001, max_poll=0.01)


def png(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(out, "PNG")
    return out.getvalue()


class FakeClient:
    """A provider whose create answers are scripted: a task id, or an error to raise."""

    name = "fake"
    limits = LIMITS

    def __init__(self, log: list[tuple[Any, ...]], answers: list[str | ProviderError],
                 images: int = 1, final: TaskStatus = TaskStatus.SUCCEEDED) -> None:
        self.log, self.answers, self.images, self.final = log, answers, images, final

    async def submit(self, request: dict[str, Any]) -> str:
        self.log.append(("submit",))
        answer = self.answers.pop(0)
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    async def fetch(self, task_id: str) -> TaskState:
        self.log.append(("fetch", task_id))
        urls = tuple(f"https://cdn.test/{task_id}/{n}.png" for n in range(1, self.images + 1))
        if self.final is TaskStatus.FAILED:
            return TaskState(TaskStatus.FAILED, error_message="nsfw")
        return TaskState(TaskStatus.SUCCEEDED, image_urls=urls)

    async def aclose(self) -> None:
        return None


class RecordingRecorder:
    """Keeps the durable writes in order, as (what, state, task id)."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log
        self.entries: dict[str, LockEntry] = {}

    async def record(self, entry: LockEntry) -> None:
        self.entries[entry.fingerprint] = entry
        self.log.append(("record", entry.state, entry.task_id, len(entry.images)))

    async def drop(self, fingerprint: str) -> None:
        self.entries.pop(fingerprint, None)
        self.log.append(("drop",))


class Hooks:
    """Hooks that keep every event."""

    def __init__(self) -> None:
        self.ends: list[tuple[str, Finished]] = []
        self.task_ids: list[str] = []
        self.retries: list[str] = []

    def started(self, item: PlanItem) -> None:
        return None

    def submitted(self, address: str, task_id: str) -> None:
        self.task_ids.append(task_id)

    def retrying(self, address: str, reason: str) -> None:
        self.retries.append(reason)

    def finished(self, item: PlanItem, result: Finished) -> None:
        self.ends.append((item.address, result))


def combination(n: int = 1, images: int = 1) -> Combination:
    outputs = tuple(f"out/c{n}-{i}.png" for i in range(1, images + 1))
    return Combination(asset="c", address=f"c[n={n}]", provider="fake", vars={"n": n},
                       request={"prompt": f"p{n}"}, fingerprint=f"{n:032x}", outputs=outputs,
                       unsent={})


def cdn(served: Callable[[httpx.Request], httpx.Response] | None = None) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=png())
    return httpx.AsyncClient(transport=httpx.MockTransport(served or handler))


def run(tmp_path: Path, items: list[PlanItem], client: FakeClient, recorder: RecordingRecorder,
        hooks: Any, *, settings: Settings = FAST,
        downloads: httpx.AsyncClient | None = None) -> Tally:
    files = OutputFiles(OutputRoot(tmp_path, tmp_path / "out"))

    async def go() -> Tally:
        async with downloads or cdn() as http:
            executor = Executor(files=files, recorder=recorder, clients={"fake": client},
                                downloads=http, settings=settings, hooks=hooks)
            return await executor.run(items)

    return asyncio.run(go())


def writes(log: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [e for e in log if e[0] in ("record", "drop", "submit")]


def test_create_makes_intent_durable_before_sending_and_the_task_id_before_polling(
        tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    hooks = Hooks()
    tally = run(tmp_path, [PlanItem(Action.CREATE, combination(images=2), None)],
                FakeClient(log, ["t1"], images=2), RecordingRecorder(log), hooks)

    assert log == [
        ("record", State.UNCERTAIN, None, 0),    # 1. intent, before the create is sent
        ("submit",),
        ("record", State.SUBMITTED, "t1", 0),    # 2. the task id, before any poll
        ("fetch", "t1"),
        ("record", State.SUBMITTED, "t1", 1),    # 3. each image once it is in place
        ("record", State.SUCCEEDED, "t1", 2),
    ]
    assert tally.done == ["c[n=1]"] and tally.creates == 1
    assert hooks.task_ids == ["t1"]
    assert [r.outcome for _, r in hooks.ends] == [Outcome.DONE]
    assert (tmp_path / "out/c1-2.png").read_bytes() == png()


def test_a_finished_task_frees_its_slot_before_its_images_are_downloaded(
        tmp_path: Path) -> None:
    """One worker (concurrency 1): once a task has finished generating, the next create is
    sent (intent first, as always), then the finished task's images are downloaded and
    recorded while the new task generates, then the new task is polled."""
    log: list[tuple[Any, ...]] = []
    hooks = Hooks()
    items = [PlanItem(Action.CREATE, combination(n), None) for n in (1, 2)]
    tally = run(tmp_path, items, FakeClient(log, ["t1", "t2"]), RecordingRecorder(log), hooks)

    assert log == [
        ("record", State.UNCERTAIN, None, 0), ("submit",), ("record", State.SUBMITTED, "t1", 0),
        ("fetch", "t1"),
        ("record", State.UNCERTAIN, None, 0), ("submit",), ("record", State.SUBMITTED, "t2", 0),
        ("record", State.SUCCEEDED, "t1", 1),          # t1's image, while t2 generates
        ("fetch", "t2"),
        ("record", State.SUCCEEDED, "t2", 1),
    ]
    assert tally.done == ["c[n=1]", "c[n=2]"] and tally.creates == 2
    assert [address for address, _ in hooks.ends] == ["c[n=1]", "c[n=2]"]


def test_images_are_downloaded_first_when_the_next_create_must_wait(tmp_path: Path) -> None:
    """The provider's rate lets one create through per window: the finished task's images are
    not kept waiting for the next one."""
    log: list[tuple[Any, ...]] = []
    items = [PlanItem(Action.CREATE, combination(n), None) for n in (1, 2)]
    paced = Settings(poll_first=0.001, poll_max=0.01, retry_base=0.001,
                     rates={"fake": (1, 0.1)})
    run(tmp_path, items, FakeClient(log, ["t1", "t2"]), RecordingRecorder(log), Hooks(),
        settings=paced)

    assert writes(log)[:6] == [
        ("record", State.UNCERTAIN, None, 0), ("submit",), ("record", State.SUBMITTED, "t1", 0),
        ("record", State.SUCCEEDED, "t1", 1),
        ("record", State.UNCERTAIN, None, 0), ("submit",),
    ]


def test_an_answer_that_created_nothing_drops_the_intent_before_trying_again(
        tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    busy = RetryLater("busy", provider="fake", retry_after=0)
    run(tmp_path, [PlanItem(Action.CREATE, combination(), None)],
        FakeClient(log, [busy, "t2"]), RecordingRecorder(log), Hooks())

    assert writes(log)[:5] == [
        ("record", State.UNCERTAIN, None, 0), ("submit",), ("drop",),
        ("record", State.UNCERTAIN, None, 0), ("submit",),
    ]
    assert writes(log)[5] == ("record", State.SUBMITTED, "t2", 0)


def test_an_ambiguous_create_keeps_the_intent_and_is_never_resent(tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    recorder = RecordingRecorder(log)
    hooks = Hooks()
    lost = Ambiguous("connection lost after sending", provider="fake")
    tally = run(tmp_path, [PlanItem(Action.CREATE, combination(), None)],
                FakeClient(log, [lost]), recorder, hooks)

    assert writes(log) == [("record", State.UNCERTAIN, None, 0), ("submit",),
                           ("record", State.UNCERTAIN, None, 0)]
    assert recorder.entries[f"{1:032x}"].error == "connection lost after sending"
    assert tally.uncertain == [("c[n=1]", "connection lost after sending")]
    assert hooks.ends == [("c[n=1]", Finished(Outcome.UNCERTAIN, "connection lost after sending"))]


def test_a_rejected_create_puts_back_the_entry_the_lock_held_before(tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    recorder = RecordingRecorder(log)
    combo = combination()
    before = LockEntry(fingerprint=combo.fingerprint, address=combo.address, asset="c",
                       provider="fake", state=State.FAILED, request=combo.request,
                       task_id="t0", error="nsfw")
    rejected = RequestRejected("image_size is not allowed", provider="fake")
    tally = run(tmp_path, [PlanItem(Action.CREATE, combo, before)],
                FakeClient(log, [rejected]), recorder, Hooks())

    assert writes(log) == [("record", State.UNCERTAIN, None, 0), ("submit",),
                           ("record", State.FAILED, "t0", 0)]
    assert recorder.entries[combo.fingerprint] == before
    assert tally.failed == [("c[n=1]", "image_size is not allowed")]


def test_a_refused_key_stops_new_creates_on_that_provider(tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    hooks = Hooks()
    refused = AuthFailed("401: key revoked", provider="fake")
    items = [PlanItem(Action.CREATE, combination(n), None) for n in (1, 2, 3)]
    tally = run(tmp_path, items, FakeClient(log, [refused]), RecordingRecorder(log), hooks)

    assert writes(log) == [("record", State.UNCERTAIN, None, 0), ("submit",), ("drop",)]
    assert [r.outcome for _, r in hooks.ends] == [Outcome.NOT_STARTED] * 3
    assert tally.not_started[1] == ("c[n=2]", "not started: 401: key revoked")


def test_a_failed_generation_is_recorded_before_the_one_paid_retry(tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    hooks = Hooks()
    tally = run(tmp_path, [PlanItem(Action.CREATE, combination(), None)],
                FakeClient(log, ["t1", "t2"], final=TaskStatus.FAILED),
                RecordingRecorder(log), hooks)

    assert writes(log) == [
        ("record", State.UNCERTAIN, None, 0), ("submit",), ("record", State.SUBMITTED, "t1", 0),
        ("record", State.FAILED, "t1", 0),
        ("record", State.UNCERTAIN, None, 0), ("submit",), ("record", State.SUBMITTED, "t2", 0),
        ("record", State.FAILED, "t2", 0),
    ]
    assert tally.creates == 2
    assert tally.failed == [("c[n=1]", "generation failed: nsfw")]


def locked(tmp_path: Path, combo: Combination, path: str, data: bytes) -> LockEntry:
    file = tmp_path / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)
    image = LockedImage(path, file_sha256(file), len(data), "https://cdn.test/old/1.png")
    return LockEntry(fingerprint=combo.fingerprint, address=combo.address, asset="c",
                     provider="fake", state=State.SUCCEEDED, request=combo.request,
                     task_id="t0", images=(image,))


def relocations(tmp_path: Path) -> list[PlanItem]:
    """One relink (the file moved in the spec) and one restore (the file was deleted)."""
    moved, gone = combination(1), combination(2)
    old = locked(tmp_path, moved, "out/old.png", png())
    lost = locked(tmp_path, gone, "out/c2-1.png", png())
    (tmp_path / "out/c2-1.png").unlink()
    return [PlanItem(Action.RELINK, moved, old,
                     (Move(0, "out/c1-1.png", old.images[0], "out/old.png"),)),
            PlanItem(Action.RESTORE, gone, lost, (Move(0, "out/c2-1.png", lost.images[0], None),))]


def test_relinks_and_restores_each_finish_once_and_record_the_new_paths(tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []
    recorder = RecordingRecorder(log)
    hooks = Hooks()
    tally = run(tmp_path, relocations(tmp_path), FakeClient(log, []), recorder, hooks)

    assert sorted(a for a, r in hooks.ends if r.ok) == ["c[n=1]", "c[n=2]"]
    assert len(hooks.ends) == 2 and tally.ok
    assert recorder.entries[f"{1:032x}"].images[0].path == "out/c1-1.png"
    assert (tmp_path / "out/c1-1.png").read_bytes() == png()
    assert (tmp_path / "out/c2-1.png").read_bytes() == png()
    assert not [e for e in log if e[0] in ("submit", "fetch")]   # free: nothing paid, no poll


def test_the_live_bar_reaches_the_total_after_restoring_and_relinking(tmp_path: Path) -> None:
    items = relocations(tmp_path)
    display = LiveProgress(len(items), Console(file=io.StringIO(), width=100))
    log: list[tuple[Any, ...]] = []
    with display:
        run(tmp_path, items, FakeClient(log, []), RecordingRecorder(log), display)

    task = display.progress.tasks[0]
    assert (task.completed, task.total) == (2, 2)
    assert task.fields["states"] == "submitted 0 · done 2 · failed 0"


def test_an_expired_restore_fails_once_with_what_to_do(tmp_path: Path) -> None:
    items = relocations(tmp_path)[1:]
    hooks = Hooks()
    log: list[tuple[Any, ...]] = []
    gone = cdn(lambda request: httpx.Response(404))
    tally = run(tmp_path, items, FakeClient(log, []), RecordingRecorder(log), hooks,
                downloads=gone)

    assert len(hooks.ends) == 1 and not tally.ok
    reason = tally.failed[0][1]
    assert reason.startswith("downloading https://cdn.test/old/1.png failed with HTTP 404")
    assert reason.endswith("only a new paid create can bring this image back: run apply with "
                           "--recreate-expired")
    assert not (tmp_path / "out/c2-1.png").exists()


@pytest.mark.parametrize("outcome", list(Outcome))
def test_the_tally_files_each_outcome_under_its_own_heading(outcome: Outcome) -> None:
    tally = Tally()
    tally.add("a", Finished(outcome, "why"))
    found = {Outcome.DONE: tally.done, Outcome.FAILED: tally.failed,
             Outcome.UNCERTAIN: tally.uncertain, Outcome.NOT_STARTED: tally.not_started,
             Outcome.STOPPED: tally.stopped}
    assert found[outcome] == (["a"] if outcome is Outcome.DONE else [("a", "why")])
    assert tally.ok is (outcome is Outcome.DONE)


def test_a_stop_waits_for_the_create_in_flight_records_it_and_sends_no_other(
        tmp_path: Path) -> None:
    """^C or SIGTERM while a create is on the wire: its answer is still recorded (else the
    next apply would see only an intent and could pay again); nothing else is sent."""
    log: list[tuple[Any, ...]] = []
    recorder = RecordingRecorder(log)
    hooks = Hooks()
    sending = asyncio.Event()

    class SlowClient(FakeClient):
        async def submit(self, request: dict[str, Any]) -> str:
            sending.set()
            await asyncio.sleep(0.05)          # the answer is on its way when the stop comes
            return await super().submit(request)

    items = [PlanItem(Action.CREATE, combination(n), None) for n in (1, 2)]
    files = OutputFiles(OutputRoot(tmp_path, tmp_path / "out"))

    async def go() -> Tally:
        async with cdn() as http:
            executor = Executor(files=files, recorder=recorder,
                                clients={"fake": SlowClient(log, ["t1", "t2"])},
                                downloads=http, settings=FAST, hooks=hooks)
            running = asyncio.create_task(executor.run(items))
            await sending.wait()
            executor.stop()
            return await running

    tally = asyncio.run(go())

    assert writes(log) == [("record", State.UNCERTAIN, None, 0), ("submit",),
                           ("record", State.SUBMITTED, "t1", 0)]
    assert recorder.entries[f"{1:032x}"].task_id == "t1"
    assert [r.outcome for _, r in hooks.ends] == [Outcome.STOPPED, Outcome.STOPPED]
    assert tally.stopped[1] == ("c[n=2]", "not sent: apply was stopped before this create")
    assert tally.creates == 1
