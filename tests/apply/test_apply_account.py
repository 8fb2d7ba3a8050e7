"""The account cannot create tasks: a wrong key (401) or no credits (402) stops new creates in
an orderly way, and whatever was already created is still recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from applykit import CANARY, Project, Run, assert_accounted, reported

from seedflow.sim import Simulator


@pytest.mark.parametrize(("provider", "key_env", "rate_env"), [
    ("apikley", "APIKLEY_API_KEY", "SEEDFLOW_APIKLEY_RATE"),
    ("modellix", "MODELLIX_API_KEY", "SEEDFLOW_MODELLIX_RATE"),
])
@pytest.mark.parametrize(("rate", "args", "requests"), [
    ("0", ("--concurrency", "1"), 1),
    # two creates go out at once, the others wait for the pacer: when they may go, the key is
    # known to be wrong and they must not be sent
    ("2/0.5s", (), 2),
], ids=["one-worker", "paced"])
def test_wrong_key_stops_new_creates(provider: str, key_env: str, rate_env: str, rate: str,
                                     args: tuple[str, ...], requests: int,
                                     make_sim: Callable[..., Simulator],
                                     env: Callable[..., object], project: Project,
                                     seedflow: Run) -> None:
    sim = make_sim(api_key="right-key-0000")
    env(sim, **{rate_env: rate})
    addresses = project.write(provider=provider)

    result = seedflow("apply", str(project.pipeline), "--yes", *args)

    assert result.code == 1, result.text
    assert key_env in result.out
    assert sim.counters.creates == 0
    assert sim.counters.create_requests == requests < len(addresses)
    rows = reported(result.out, addresses)
    assert {kind for kind, _ in rows.values()} == {"not-started"}
    assert sorted(rows) == sorted(addresses)
    assert project.entries() == {}  # no intent left behind: nothing can have been created
    assert CANARY not in result.text


def test_out_of_credits_stops_in_order(make_sim: Callable[..., Simulator],
                                       env: Callable[..., object], project: Project,
                                       seedflow: Run) -> None:
    sim = make_sim(credits=2, latency=0.3)
    env(sim)
    addresses = project.write(provider="apikley")

    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 1, result.text
    assert sim.counters.creates == 2
    outcome = assert_accounted(project, addresses, result.out)
    done = sorted(a for a, kind in outcome.items() if kind == "succeeded")
    assert len(done) == 2  # created before the money ran out: still polled and downloaded
    assert sorted(outcome.values()).count("not-started") == len(addresses) - 2
    assert "top up" in result.out
    assert sorted(project.entries()) == done
    project.assert_intact(done)

    sim.config.credits = None  # topped up
    again = seedflow("apply", str(project.pipeline), "--yes")

    assert again.code == 0, again.text
    assert sim.counters.creates == len(addresses)
    project.assert_intact(addresses)
