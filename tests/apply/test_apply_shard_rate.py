"""Shards of one account share its create rate (issue #13): three ``apply --shard K/3`` processes
at once against one simulated account that answers 429 past its limit. Each is told the
account's rate (``SEEDFLOW_APIKLEY_RATE``), as a user configures it; by default each takes a
third, so the provider never has to say no. The control: shards on their own accounts
(``SEEDFLOW_SHARDS_PER_ACCOUNT=1``) pace to the whole rate each, and the account answers 429."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from applykit import SUBPROCESS_TIMEOUT, Project, request_key, start_subprocess

from seedflow.sim import Simulator

LIMIT = (9, 2.0)   # a scaled-down "20 per 10 s", so the test stays short
RATE = "9/2s"


def _three_shards_at_once(project: Project, env: dict[str, str]) -> None:
    procs = [start_subprocess(project.root, ["apply", str(project.pipeline), "--yes",
                                             "--shard", f"{k}/3"], env)
             for k in (1, 2, 3)]
    for proc in procs:
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        assert proc.returncode == 0, out + err


def _created_once_each(sim: Simulator, count: int) -> bool:
    tasks = Counter(request_key(task.request) for task in sim.tasks.values())
    return len(tasks) == count and set(tasks.values()) == {1}


def test_three_shards_on_one_account_get_no_429(make_sim: Callable[..., Simulator],
                                                env: Callable[..., dict[str, str]],
                                                project: Project) -> None:
    sim = make_sim(rate_limit=LIMIT)
    values = env(sim, SEEDFLOW_APIKLEY_RATE=RATE)
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=tuple(range(1, 10)))

    _three_shards_at_once(project, values)

    assert sim.counters.rejected_429 == 0
    assert sim.counters.creates == sim.counters.create_requests == len(addresses) == 27
    assert _created_once_each(sim, len(addresses))


@pytest.mark.parametrize("override", ["SEEDFLOW_SHARDS_PER_ACCOUNT"])
def test_shards_said_to_have_their_own_accounts_each_take_the_whole_rate(
        override: str, make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project) -> None:
    """Here they do not: together they offer three times the limit, and the account refuses
    some creates (which are waited out and sent again: still each paid once)."""
    sim = make_sim(rate_limit=LIMIT)
    values = env(sim, SEEDFLOW_APIKLEY_RATE=RATE, **{override: "1"})
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=tuple(range(1, 10)))

    _three_shards_at_once(project, values)

    assert sim.counters.rejected_429 > 0
    assert sim.counters.creates == len(addresses)
    assert _created_once_each(sim, len(addresses))
