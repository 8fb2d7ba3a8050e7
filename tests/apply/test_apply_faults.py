"""Apply under injected provider faults: every combination ends generated or reported (failed,
uncertain, not started) with its reason, and nothing is paid twice unless the user asked."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from applykit import Project, Result, Run, assert_accounted, events, reported, tasks_by_address

from seedflow.apply import runtime
from seedflow.sim import Fault, Simulator

# answers to a create that say nothing was created: a 429, and Apikley's 503 (body code 455,
# maintenance). A 5xx otherwise leaves the outcome unknown (uncertain, never re-sent on its own:
# tests/apply/test_apply_provider_answers.py).
REFUSED_FOR_NOW = [(Fault.HTTP_429, "apikley"), (Fault.HTTP_429, "modellix"),
                   (Fault.HTTP_503, "apikley")]


def apply(seedflow: Run, project: Project, *args: str) -> Result:
    return seedflow("apply", str(project.pipeline), "--yes", *args)


@pytest.mark.parametrize(("fault", "provider"), REFUSED_FOR_NOW)
def test_create_refused_for_now_is_retried(fault: Fault, provider: str,
                                          make_sim: Callable[..., Simulator],
                                          env: Callable[..., object], project: Project,
                                          seedflow: Run) -> None:
    sim = make_sim(fault_retry_after=1)
    env(sim)
    addresses = project.write(provider=provider)
    sim.inject(fault, times=2, endpoint="create")

    started = time.monotonic()
    result = apply(seedflow, project)
    took = time.monotonic() - started

    assert result.code == 0, result.text
    counters = sim.counters
    assert counters.faults[fault] == 2
    assert counters.create_requests == len(addresses) + 2
    assert counters.creates == len(addresses)
    assert set(tasks_by_address(sim, project).values()) == {1}
    assert len(events(result.err, "retry")) == 2, result.err
    project.assert_intact(addresses)
    if fault is Fault.HTTP_429:
        assert counters.rejected_429 == 2
        assert "the provider asks to wait 1s" in result.err
        assert took >= 1.0  # Retry-After honoured...
        assert took < 5.0  # ...and only that: not a whole 10 s rate window


@pytest.mark.parametrize(("fault", "endpoint"), [
    (Fault.HTTP_429, "poll"),
    (Fault.HTTP_500, "poll"),
    (Fault.HTTP_503, "poll"),
    (Fault.DROP_BEFORE_RECORD, "poll"),
    (Fault.HTTP_500, "download"),
    (Fault.HTTP_503, "download"),
    (Fault.DROP_BEFORE_RECORD, "download"),
    (Fault.DOWNLOAD_TRUNCATED, "download"),
])
def test_free_requests_are_retried(fault: Fault, endpoint: str,
                                   make_sim: Callable[..., Simulator],
                                   env: Callable[..., object], project: Project,
                                   seedflow: Run) -> None:
    sim = make_sim(fault_retry_after=0)
    env(sim)
    addresses = project.write(provider="apikley")
    sim.inject(fault, times=2, endpoint=endpoint)

    result = apply(seedflow, project)

    assert result.code == 0, result.text
    assert sim.counters.faults[fault] == 2
    assert sim.counters.creates == len(addresses)
    if endpoint == "download":
        assert sim.counters.downloads == len(addresses) + 2
    project.assert_intact(addresses)
    assert project.parts() == []


@pytest.mark.parametrize(("fault", "recorded"), [
    (Fault.DROP_BEFORE_RECORD, False),
    (Fault.DROP_AFTER_RECORD, True),
    (Fault.SLOW_RESPONSE, True),
])
def test_ambiguous_create_is_uncertain_until_the_user_retries(
        fault: Fault, recorded: bool, make_sim: Callable[..., Simulator],
        env: Callable[..., object], project: Project, seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A create whose answer never came may have been received (and billed): it is reported
    uncertain, never re-sent on its own; --retry-uncertain re-sends it."""
    sim = make_sim(slow_seconds=5.0)
    env(sim)
    # seedflow has no setting for its HTTP timeout (60 s); shorten it for SLOW_RESPONSE.
    monkeypatch.setattr(runtime, "TIMEOUT", httpx.Timeout(0.5))
    addresses = project.write(provider="apikley")
    sim.inject(fault, times=1, endpoint="create")

    first = apply(seedflow, project)

    assert first.code == 1, first.text
    outcome = assert_accounted(project, addresses, first.out)
    (address,) = [a for a, kind in outcome.items() if kind == "uncertain"]
    assert sorted(outcome.values()).count("succeeded") == len(addresses) - 1
    reason = reported(first.out, addresses)[address][1]
    expected = "ReadTimeout" if fault is Fault.SLOW_RESPONSE else "after the request was sent"
    assert expected in reason
    assert "uncertain" in reason
    assert project.entries()[address].state == "uncertain"
    paid = len(addresses) if recorded else len(addresses) - 1
    assert sim.counters.creates == paid

    again = apply(seedflow, project)

    assert again.code == 1, again.text
    assert reported(again.out, addresses)[address][0] == "uncertain"
    assert sim.counters.creates == paid  # not re-sent without the user's say-so

    retried = apply(seedflow, project, "--retry-uncertain")

    assert retried.code == 0, retried.text
    assert sim.counters.creates == paid + 1
    assert tasks_by_address(sim, project)[address] == (2 if recorded else 1)
    project.assert_intact(addresses)


@pytest.mark.parametrize("endpoint", ["poll", "download"])
def test_slow_free_requests_time_out_and_are_retried(endpoint: str,
                                                     make_sim: Callable[..., Simulator],
                                                     env: Callable[..., object],
                                                     project: Project, seedflow: Run,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim(slow_seconds=5.0)
    env(sim)
    monkeypatch.setattr(runtime, "TIMEOUT", httpx.Timeout(0.5))
    addresses = project.write(provider="modellix")
    sim.inject(Fault.SLOW_RESPONSE, times=1, endpoint=endpoint)

    result = apply(seedflow, project)

    assert result.code == 0, result.text
    assert sim.counters.faults[Fault.SLOW_RESPONSE] == 1
    assert sim.counters.creates == len(addresses)
    assert "ReadTimeout" in result.err
    project.assert_intact(addresses)


def test_failed_generation_is_tried_once_more_then_reported(
        sim: Simulator, env: Callable[..., object], project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write(provider="apikley")
    sim.inject(Fault.GENERATION_FAILED, times=3, endpoint="create")

    # one worker: the first combination fails twice (reported), the second once (retried)
    result = apply(seedflow, project, "--concurrency", "1")

    assert result.code == 1, result.text
    outcome = assert_accounted(project, addresses, result.out)
    failed = addresses[0]
    assert outcome == {a: "failed" if a == failed else "succeeded" for a in addresses}
    reason = reported(result.out, addresses)[failed][1]
    assert "generation failed" in reason
    assert "simulated failure" in reason  # the provider's own message
    assert result.err.count("a new paid task") == 2
    assert sim.counters.creates == len(addresses) + 2
    assert tasks_by_address(sim, project)[addresses[1]] == 2
    entry = project.entries()[failed]
    assert entry.state == "failed"
    assert entry.error and "simulated failure" in entry.error

    again = apply(seedflow, project)

    assert again.code == 0, again.text
    assert sim.counters.creates == len(addresses) + 3  # a failed task is created anew (paid)
    project.assert_intact(addresses)


def test_expired_result_url_fails_then_resumes_for_free(sim: Simulator,
                                                       env: Callable[..., object],
                                                       project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write(provider="apikley")
    sim.inject(Fault.DOWNLOAD_404, times=1, endpoint="download")

    first = apply(seedflow, project)

    assert first.code == 1, first.text
    outcome = assert_accounted(project, addresses, first.out)
    (address,) = [a for a, kind in outcome.items() if kind == "failed"]
    assert "HTTP 404" in reported(first.out, addresses)[address][1]
    assert project.entries()[address].state == "submitted"  # the task id is kept
    assert sim.counters.creates == len(addresses)
    assert project.parts() == []

    again = apply(seedflow, project)

    assert again.code == 0, again.text
    assert events(again.err, "resume") == [address]
    assert sim.counters.creates == len(addresses)
    project.assert_intact(addresses)


CHAOS = {
    Fault.HTTP_429: 0.05, Fault.HTTP_500: 0.05, Fault.HTTP_503: 0.05,
    Fault.DROP_BEFORE_RECORD: 0.05, Fault.DROP_AFTER_RECORD: 0.1,
    Fault.GENERATION_FAILED: 0.1, Fault.DOWNLOAD_404: 0.08, Fault.DOWNLOAD_TRUNCATED: 0.08,
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chaos_until_done(seed: int, make_sim: Callable[..., Simulator],
                          env: Callable[..., object], project: Project, seedflow: Run) -> None:
    """Random faults everywhere; apply again (with --retry-uncertain after the first round)
    until done. Only the combinations the user retried as uncertain may hold two good tasks."""
    sim = make_sim(fault_rates=dict(CHAOS), fault_retry_after=0, seed=seed)
    env(sim, SEEDFLOW_APIKLEY_RATE="0")
    addresses = project.write(provider="apikley", things=("mug", "lamp", "vase"),
                              seeds=(1, 2, 3, 4))
    retried: set[str] = set()
    args: tuple[str, ...] = ()
    for _ in range(8):
        result = apply(seedflow, project, *args)
        outcome = assert_accounted(project, addresses, result.out)
        assert (result.code == 0) == (set(outcome.values()) == {"succeeded"}), result.text
        if result.code == 0:
            break
        retried |= {a for a, kind in outcome.items() if kind == "uncertain"}
        args = ("--retry-uncertain",)
    assert result.code == 0, result.text

    project.assert_intact(addresses)
    assert project.parts() == []
    sim.config.fault_rates = {}
    good: dict[str, int] = {}
    by_request = {e.request["input"]["prompt"]: a for a, e in project.entries().items()}
    for task in sim.tasks.values():
        if not task.fails:
            address = by_request[task.request["input"]["prompt"]]
            good[address] = good.get(address, 0) + 1
    assert {a for a, n in good.items() if n > 1} <= retried
    assert sum(sim.counters.faults.values()) > 0


def test_retry_after_without_a_published_rate_holds_back_every_create() -> None:
    """Modellix publishes no rate: one 429's Retry-After must pause all creates, not just one."""
    import asyncio

    from seedflow.apply.pacing import RateLimiter

    async def scenario() -> list[float]:
        limiter = RateLimiter(None)
        started = time.monotonic()
        limiter.push_back(0.3)
        tickets = await asyncio.gather(*(limiter.wait() for _ in range(5)))
        return [t[0] - started for t in tickets]

    assert all(0.29 <= at < 1.0 for at in asyncio.run(scenario()))
