"""Replay the cassettes through the real clients configured with the real base URLs, with vcrpy
refusing any request not recorded: those recorded from the simulator (``tests/cassettes``, see
its ``record.py``), and those written by hand from the shapes the providers, their official
clients and integrators publish (``tests/cassettes/published``, each answer citing its source),
which check the clients against more than our own simulator's beliefs."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import vcr
import yaml

from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    OutOfCredits,
    ProviderError,
    RequestRejected,
    RetryLater,
    TaskNotFound,
)
from seedflow.providers.modellix.client import ModellixClient

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
PUBLISHED = CASSETTES / "published"
REPLAY = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none",
                 filter_headers=["authorization"])
BASE_URLS = {"apikley": "https://api.apikley.ru", "modellix": "https://api.modellix.ai"}
TASK_IDS = {"apikley": "task_bytedance_1765176547151", "modellix": "task-def456"}


def load_recorder() -> ModuleType:
    """``tests/cassettes/record.py``, for its requests and keys."""
    spec = importlib.util.spec_from_file_location("cassette_record", CASSETTES / "record.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORD = load_recorder()


def make(provider: str, key: str = "any-replay-key") -> ProviderClient:
    http = httpx.AsyncClient()
    if provider == "apikley":
        return ApikleyClient(http, base_url=BASE_URLS[provider], api_key=key)
    return ModellixClient(http, base_url=BASE_URLS[provider], api_key=key)


def replay(cassette: str, scenario: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``scenario`` against ``cassette``; every recorded interaction must be played."""
    with REPLAY.use_cassette(cassette) as played:
        result: Any = asyncio.run(scenario())
        assert played.all_played
    return result


def lifecycle(provider: str
              ) -> Callable[[], Coroutine[Any, Any, tuple[str, list[TaskState]]]]:
    async def run() -> tuple[str, list[TaskState]]:
        client = make(provider)
        try:
            task_id = await client.submit(RECORD.REQUESTS[provider])
            return task_id, [await client.fetch(task_id) for _ in RECORD.POLL_AT]
        finally:
            await client.aclose()
    return run


@pytest.mark.parametrize(("provider", "running"), [
    ("apikley", [TaskStatus.PENDING, TaskStatus.RUNNING]),
    ("modellix", [TaskStatus.PENDING, TaskStatus.RUNNING])])
def test_success_replays_through_every_state(provider: str, running: list[TaskStatus]) -> None:
    task_id, states = replay(f"{provider}_success.yaml", lifecycle(provider))
    assert task_id == TASK_IDS[provider]
    assert [s.status for s in states] == [*running, TaskStatus.SUCCEEDED]
    expected = {"apikley": "https://example.com/generated-content.jpg",
                "modellix": "https://cdn.example.com/images/abc123.png"}[provider]
    assert states[-1].image_urls == (expected,)


@pytest.mark.parametrize(("provider", "code"), [
    ("apikley", "501"), ("modellix", "generation_failed")])
def test_failed_replays_to_a_failed_state(provider: str, code: str) -> None:
    _, states = replay(f"{provider}_failed.yaml", lifecycle(provider))
    assert states[-1].status is TaskStatus.FAILED
    assert states[-1].error_code == code
    assert states[-1].error_message


@pytest.mark.parametrize("provider", ["apikley", "modellix"])
def test_errors_replay_to_the_documented_classes(provider: str) -> None:
    async def run() -> list[ProviderError]:
        client, wrong = make(provider), make(provider, "another-replay-key")
        request = RECORD.REQUESTS[provider]
        calls: list[Callable[[], Awaitable[object]]] = [
                 lambda: client.submit(RECORD.INVALID[provider]),
                 lambda: client.submit(request), lambda: client.submit(request),
                 lambda: wrong.submit(request), lambda: client.submit(request),
                 lambda: client.fetch(RECORD.UNKNOWN_IDS[provider])]
        caught: list[ProviderError] = []
        for call in calls:
            with pytest.raises(ProviderError) as info:
                await call()
            caught.append(info.value)
        await client.aclose()
        await wrong.aclose()
        return caught

    errors = replay(f"{provider}_errors.yaml", run)
    # the third is 503: Apikley's maintenance code 455 (nothing created, retry later), for
    # Modellix an answer to a paid POST that leaves the outcome unknown
    unavailable = RetryLater if provider == "apikley" else Ambiguous
    assert [type(e) for e in errors] == [RequestRejected, RetryLater, unavailable, AuthFailed,
                                         OutOfCredits, TaskNotFound]
    assert isinstance(errors[1], RetryLater) and errors[1].retry_after == 5.0
    assert all(e.message.startswith(f"{provider}: ") for e in errors)


def test_an_unrecorded_request_is_refused_not_sent() -> None:
    async def run() -> None:
        client = make("apikley")
        try:
            await client.fetch("task_never_recorded")
        finally:
            await client.aclose()

    with REPLAY.use_cassette("apikley_success.yaml"), pytest.raises(
            vcr.errors.CannotOverwriteExistingCassetteException):
        asyncio.run(run())


def cassette_files() -> Iterator[Path]:
    yield from sorted(CASSETTES.glob("*.yaml"))


def published_files() -> Iterator[Path]:
    yield from sorted(PUBLISHED.glob("*.yaml"))


EVERY_CASSETTE = [*cassette_files(), *published_files()]


def test_there_are_cassettes_for_both_providers() -> None:
    names = {p.stem for p in cassette_files()}
    assert names == {f"{provider}_{scenario}" for provider in BASE_URLS
                     for scenario in ("success", "failed", "errors")}


@pytest.mark.parametrize("path", EVERY_CASSETTE, ids=lambda p: p.name)
def test_no_cassette_holds_an_authorization_header_or_a_key(path: Path) -> None:
    text = path.read_text()
    for secret in (RECORD.RECORDING_KEY, RECORD.WRONG_KEY, "Bearer"):
        assert secret not in text
    for interaction in yaml.safe_load(text)["interactions"]:
        for part in ("request", "response"):
            names = {name.lower() for name in interaction[part]["headers"]}
            assert "authorization" not in names


@pytest.mark.parametrize("path", EVERY_CASSETTE, ids=lambda p: p.name)
def test_cassettes_point_at_the_real_hosts_only(path: Path) -> None:
    text = path.read_text()
    assert "127.0.0.1" not in text
    assert "seedflow-sim" not in text
    for interaction in yaml.safe_load(text)["interactions"]:
        assert interaction["request"]["uri"].startswith(tuple(BASE_URLS.values()))


# --- published shapes (tests/cassettes/published) ------------------------------------------------

@pytest.mark.parametrize("path", list(published_files()), ids=lambda p: p.name)
def test_every_published_answer_cites_its_source(path: Path) -> None:
    interactions = yaml.safe_load(path.read_text())["interactions"]
    assert interactions
    for interaction in interactions:
        assert len(interaction.get("source", "")) > 20, interaction["request"]["uri"]


def outcomes(calls: list[Callable[[], Awaitable[object]]]
             ) -> Callable[[], Coroutine[Any, Any, list[object]]]:
    """Run ``calls`` in order; each one's result or the ProviderError it raised."""
    async def run() -> list[object]:
        got: list[object] = []
        for call in calls:
            try:
                got.append(await call())
            except ProviderError as exc:
                got.append(exc)
        return got
    return run


def test_kie_code_500_refusals_are_rejected_and_a_server_error_is_uncertain() -> None:
    client = make("apikley")
    got = replay("published/apikley_code_500_refusals.yaml",
                 outcomes([lambda: client.submit(RECORD.REQUESTS["apikley"])] * 5))
    asyncio.run(client.aclose())
    assert [type(g) for g in got] == [RequestRejected, RequestRejected, RequestRejected,
                                      Ambiguous, RetryLater]
    first = got[0]
    assert isinstance(first, RequestRejected)
    assert first.message == ('apikley: creating a task failed (HTTP 200, code 500: "image_size '
                             'is not within the range of allowed options"); fix the request; '
                             "sending it unchanged fails again")
    assert isinstance(got[3], Ambiguous)
    assert "does not say whether the task was created" in got[3].message


def test_kie_task_records_replay_to_lag_running_no_result_failure_and_a_revoked_key() -> None:
    client = make("apikley")
    task_id = TASK_IDS["apikley"]
    got = replay("published/apikley_task_records.yaml",
                 outcomes([lambda: client.fetch(task_id)] * 5))
    asyncio.run(client.aclose())
    not_found, running, empty, failed, refused = got
    assert isinstance(not_found, TaskNotFound) and not_found.may_appear
    assert running == TaskState(TaskStatus.RUNNING)
    assert empty == TaskState(TaskStatus.SUCCEEDED, ())  # over, with nothing to download
    assert failed == TaskState(TaskStatus.FAILED, (), "500", "Internal server error")
    assert isinstance(refused, AuthFailed)


def test_modellix_cli_statuses_replay_to_running_then_success_and_error_to_failed() -> None:
    client = make("modellix")
    got = replay("published/modellix_cli_statuses.yaml", outcomes([
        lambda: client.submit(RECORD.REQUESTS["modellix"]),
        lambda: client.fetch("task-def456"), lambda: client.fetch("task-def456"),
        lambda: client.fetch("task-succeeded1"), lambda: client.fetch("task-error1")]))
    asyncio.run(client.aclose())
    image = ("https://cdn.example.com/images/abc123.png",)
    assert got == ["task-def456", TaskState(TaskStatus.RUNNING),
                   TaskState(TaskStatus.SUCCEEDED, image), TaskState(TaskStatus.SUCCEEDED, image),
                   TaskState(TaskStatus.FAILED, (), "error", None)]


def test_modellix_5xx_to_a_create_is_outcome_unknown() -> None:
    client = make("modellix")
    got = replay("published/modellix_create_outcome_unknown.yaml", outcomes([
        *[lambda: client.submit(RECORD.REQUESTS["modellix"])] * 3,
        lambda: client.fetch("task-def456")]))
    asyncio.run(client.aclose())
    assert [type(g) for g in got] == [Ambiguous, Ambiguous, Ambiguous, AuthFailed]
    assert [getattr(g, "http_status", None) for g in got] == [500, 503, 502, 401]
