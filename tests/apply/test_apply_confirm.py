"""On a terminal, apply shows what it will pay for (as `terraform apply` lists its changes)
before it asks; no answer, no create."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from applykit import Project, Run
from clirun import terminal

from seedflow.sim import Simulator


def test_apply_lists_the_paid_creates_before_it_asks(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    env(sim)
    addresses = project.write(things=("mug",), seeds=(1, 2))
    asked = terminal(monkeypatch, answer=False)

    result = seedflow("apply", "p.yaml")

    assert result.code == 1
    assert asked == ["Start 2 paid tasks (2 images)?"]
    assert result.out.splitlines()[:3] == ["apply will create (paid):",
                                           *(f"  + {a}" for a in sorted(addresses))]
    assert result.err == "error: cancelled; nothing was generated\n"
    assert sim.counters.create_requests == 0
