"""Both clients, over real loopback HTTP against the simulator, on the status words and error
shapes the live services send beyond their docs (issue 12): the words of Modellix's official
CLI, kie's code-500 parameter refusals, 5xx on a paid create, a success without a result, the
reason of a 501, a task not yet visible, a key revoked while polling, a provider that echoes the
key. The shapes and their sources: docs/providers.md."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import ProviderClient, TaskState, TaskStatus
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    ProviderError,
    RequestRejected,
    RetryLater,
    TaskNotFound,
)
from seedflow.providers.modellix.client import ModellixClient
from seedflow.sim import Answer, Fault, SimConfig, Simulator

KEY = "sk-answers-canary-0123456789"
REQUESTS: dict[str, dict[str, Any]] = {
    "apikley": {"model": "bytedance/seedream-v4-text-to-image",
                "input": {"prompt": "a red bicycle", "image_size": "square_hd"}},
    "modellix": {"prompt": "a red bicycle", "size": "2048x2048"},
}
PROTOCOLS = list(REQUESTS)
Settle = Callable[[ProviderClient, str], Awaitable[TaskState]]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(latency=0.05)) as running:
        yield running


def make(protocol: str, sim: Simulator) -> ProviderClient:
    http = httpx.AsyncClient(timeout=5.0)
    if protocol == "apikley":
        return ApikleyClient(http, base_url=sim.base_url, api_key=KEY)
    return ModellixClient(http, base_url=sim.base_url, api_key=KEY)


def settled(protocol: str, sim: Simulator, settle: Settle) -> TaskState:
    async def run() -> TaskState:
        client = make(protocol, sim)
        try:
            return await settle(client, await client.submit(REQUESTS[protocol]))
        finally:
            await client.aclose()
    return asyncio.run(run())


def submitted(protocol: str, sim: Simulator) -> ProviderError:
    async def run() -> str:
        client = make(protocol, sim)
        try:
            return await client.submit(REQUESTS[protocol])
        finally:
            await client.aclose()
    with pytest.raises(ProviderError) as caught:
        asyncio.run(run())
    return caught.value


# --- items 1-3: Modellix's status words --------------------------------------------------------

@pytest.mark.parametrize("words", [
    {"processing": "running", "success": "completed"},
    {"processing": "running", "success": "succeeded"},
    {"pending": "queued", "processing": "in_progress"},  # words no source lists: keep polling
])
def test_modellix_words_of_the_official_cli_end_in_success(sim: Simulator, settle: Settle,
                                                           words: dict[str, str]) -> None:
    sim.config.state_words = words
    state = settled("modellix", sim, settle)
    assert state.status is TaskStatus.SUCCEEDED and len(state.image_urls) == 1


def test_modellix_error_is_a_failure(sim: Simulator, settle: Settle) -> None:
    sim.config.state_words = {"failed": "error"}
    sim.inject(Fault.GENERATION_FAILED)
    state = settled("modellix", sim, settle)
    assert state.status is TaskStatus.FAILED
    assert state.error_code == "generation_failed" and state.error_message


def test_an_unknown_apikley_state_keeps_polling(sim: Simulator, settle: Settle) -> None:
    sim.config.state_words = {"waiting": "pending", "generating": "processing"}
    assert settled("apikley", sim, settle).status is TaskStatus.SUCCEEDED


# --- item 4: kie's code-500 parameter refusal --------------------------------------------------

@pytest.mark.parametrize("status", [200, 500])
def test_apikley_code_500_refusal_is_rejected_after_one_create(sim: Simulator,
                                                               status: int) -> None:
    sim.config.apikley_refusal_status = status
    sim.inject(Answer.INVALID_PARAMETER)
    error = submitted("apikley", sim)
    assert type(error) is RequestRejected
    assert error.provider_message == "image_size is not within the range of allowed options"
    assert "fix the request" in error.message
    assert sim.counters.create_requests == 1 and sim.counters.creates == 0


def test_modellix_refusal_is_rejected(sim: Simulator) -> None:
    sim.inject(Answer.INVALID_PARAMETER)
    error = submitted("modellix", sim)
    assert type(error) is RequestRejected and error.http_status == 400


# --- item 7: a 5xx answer to a paid create -----------------------------------------------------

@pytest.mark.parametrize(("protocol", "fault", "error"), [
    ("apikley", Fault.HTTP_500, Ambiguous),
    ("apikley", Fault.HTTP_503, RetryLater),  # Apikley's maintenance code 455: nothing created
    ("modellix", Fault.HTTP_500, Ambiguous),
    ("modellix", Fault.HTTP_503, Ambiguous),
])
def test_a_5xx_to_a_create(sim: Simulator, protocol: str, fault: Fault,
                           error: type[ProviderError]) -> None:
    sim.inject(fault)
    assert type(submitted(protocol, sim)) is error
    assert sim.counters.create_requests == 1


# --- item 5: success without a result; item 6: the reason of a 501 ----------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_success_without_a_result_is_over_with_no_image(sim: Simulator, settle: Settle,
                                                        protocol: str) -> None:
    sim.inject(Answer.NO_RESULT)
    assert settled(protocol, sim, settle) == TaskState(TaskStatus.SUCCEEDED, ())


def test_apikley_501_on_a_read_keeps_the_fail_message(sim: Simulator, settle: Settle) -> None:
    sim.config.apikley_fail_code = 501
    sim.inject(Fault.GENERATION_FAILED)
    state = settled("apikley", sim, settle)
    assert state.status is TaskStatus.FAILED
    assert state.error_code == "501"
    assert state.error_message == ("Generation failed: the model returned no image (simulated "
                                   "failure)")


# --- item 8: not visible yet; item 9: a key revoked while polling ------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_task_not_visible_yet_is_not_found_that_may_appear(sim: Simulator,
                                                             protocol: str) -> None:
    sim.config.not_found_for = 5.0

    async def run() -> TaskState:
        client = make(protocol, sim)
        try:
            return await client.fetch(await client.submit(REQUESTS[protocol]))
        finally:
            await client.aclose()

    with pytest.raises(TaskNotFound) as caught:
        asyncio.run(run())
    assert caught.value.may_appear


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_key_revoked_while_polling_is_auth_failed(sim: Simulator, protocol: str) -> None:
    async def run() -> TaskState:
        client = make(protocol, sim)
        try:
            task_id = await client.submit(REQUESTS[protocol])
            sim.inject(Answer.UNAUTHORIZED, endpoint="poll")
            return await client.fetch(task_id)
        finally:
            await client.aclose()

    with pytest.raises(AuthFailed) as caught:
        asyncio.run(run())
    assert "_API_KEY" in caught.value.message


# --- issue 10: one redaction covers every text a provider sends --------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_key_echoed_in_a_failure_is_redacted_at_the_boundary(sim: Simulator, settle: Settle,
                                                               protocol: str) -> None:
    sim.config.echo_key = True
    sim.config.apikley_fail_code = 501
    sim.inject(Fault.GENERATION_FAILED)
    state = settled(protocol, sim, settle)
    assert state.status is TaskStatus.FAILED
    assert KEY not in repr(state)
    assert "Bearer [REDACTED]" in (state.error_code or "")
    assert "Bearer [REDACTED]" in (state.error_message or "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("answer", [Fault.HTTP_500, Answer.INVALID_PARAMETER])
def test_a_key_echoed_in_an_error_is_redacted(sim: Simulator, protocol: str,
                                              answer: Fault | Answer) -> None:
    sim.config.echo_key = True
    sim.inject(answer)
    error = submitted(protocol, sim)
    assert KEY not in error.message and KEY not in str(error.provider_message)
    assert "Bearer [REDACTED]" in error.message
