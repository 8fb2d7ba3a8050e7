"""Create pacing: zero 429s when the provider's limit is known; Retry-After when it is not."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from applykit import Project, Run

from seedflow.lock.journal import Journal
from seedflow.sim import Simulator


def test_known_limit_is_paced_with_zero_429s(make_sim: Callable[..., Simulator],
                                             env: Callable[..., object], project: Project,
                                             seedflow: Run) -> None:
    """A scaled-down Apikley limit (5 per 1 s) so the test stays short."""
    sim = make_sim(rate_limit=(5, 1.0))
    env(sim, SEEDFLOW_APIKLEY_RATE="5/1s")
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2, 3, 4, 5))

    started = time.monotonic()
    result = seedflow("apply", str(project.pipeline), "--yes")
    took = time.monotonic() - started

    assert result.code == 0, result.text
    assert sim.counters.rejected_429 == 0
    assert sim.counters.create_requests == len(addresses) == 15
    assert took >= 2.0  # 15 creates at 5 per second need two full windows of waiting
    project.assert_intact(addresses)


def test_pacing_holds_when_the_first_creates_are_held_up(
        make_sim: Callable[..., Simulator], env: Callable[..., object], project: Project,
        seedflow: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first window's creates reach the provider late (two slow fsyncs of the intent
    records, as on a busy CI disk); the next window's must still not crowd them."""
    sync = Journal.sync
    calls: list[None] = []

    def slow_at_first(self: Journal) -> None:
        calls.append(None)
        if len(calls) <= 2:
            time.sleep(0.3)
        sync(self)

    monkeypatch.setattr(Journal, "sync", slow_at_first)
    sim = make_sim(rate_limit=(5, 1.0))
    env(sim, SEEDFLOW_APIKLEY_RATE="5/1s")
    addresses = project.write(things=("mug", "lamp"), seeds=(1, 2, 3, 4, 5))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert len(calls) > 2
    assert sim.counters.rejected_429 == 0
    assert sim.counters.creates == len(addresses)


def test_unknown_limit_is_met_with_retry_after(make_sim: Callable[..., Simulator],
                                               env: Callable[..., object], project: Project,
                                               seedflow: Run) -> None:
    """The control for the test above: the same simulator limit, no client pacing. The
    simulator does answer 429 then, and apply still finishes by waiting as told."""
    sim = make_sim(rate_limit=(5, 1.0))
    env(sim, SEEDFLOW_APIKLEY_RATE="0")
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2, 3, 4, 5))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.rejected_429 > 0
    assert sim.counters.creates == len(addresses)
    assert "the provider asks to wait" in result.err
    project.assert_intact(addresses)


@pytest.mark.slow
def test_apikley_documented_limit_zero_429s(make_sim: Callable[..., Simulator],
                                            env: Callable[..., object], project: Project,
                                            seedflow: Run) -> None:
    """Apikley's published limit, 20 creates per 10 s, over 30 combinations (about 10 s)."""
    sim = make_sim(rate_limit=(20, 10.0))
    env(sim, SEEDFLOW_APIKLEY_RATE="20/10s")
    addresses = project.write(things=("mug", "lamp", "vase", "bowl", "cup"),
                              seeds=(1, 2, 3, 4, 5, 6))

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.rejected_429 == 0
    assert sim.counters.creates == len(addresses) == 30
    project.assert_intact(addresses)
