"""On a terminal, apply shows what it will create (as `terraform apply` lists its changes),
the plan and the cost line once, before it asks; no answer, no create. Simulated work is
shown, never called paid, and never asked about."""

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
    assert asked == ["Start the paid tasks listed above?"]
    assert result.out == "\n".join([
        "apply will create (paid):",
        *(f"  + {a}" for a in sorted(addresses)),
        "Plan: 2 to create (paid), 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "0 unchanged.",
        "Cost: 2 images, estimated 10 credits.",
    ]) + "\n"
    assert result.err == "error: cancelled; nothing was generated\n"
    assert sim.counters.create_requests == 0


def test_off_a_terminal_paid_work_needs_yes(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    project.write(things=("mug",), seeds=(1, 2))

    result = seedflow("apply", "p.yaml")

    assert (result.code, result.out) == (1, "")
    assert result.err == ("error: this apply would start 2 paid generation tasks, and there is "
                          "no terminal to confirm on; pass --yes to go ahead (CI), or --locked "
                          "to refuse paid work\n")
    assert sim.counters.create_requests == 0


def test_simulated_work_is_listed_not_called_paid_and_not_asked_about(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    env(sim)
    addresses = project.write(provider="sim", things=("mug",), seeds=(1, 2))
    asked = terminal(monkeypatch, answer=False)

    result = seedflow("apply", "p.yaml")

    assert (result.code, asked) == (0, [])
    lines = result.out.splitlines()
    assert lines[:5] == [
        "apply will create (simulated, free):",
        *(f"  + {a}" for a in sorted(addresses)),
        "Plan: 2 to create (simulated), 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "0 unchanged.",
        "Cost: nothing (2 simulated images).",
    ]
    assert lines[5].startswith("Applied in ")
    assert "paid" not in result.text
    assert result.text.count("Cost:") == 1
    assert sim.counters.creates == 2


def test_paid_and_simulated_work_in_one_apply_are_told_apart(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    env(sim)
    project.write(things=("mug",), seeds=(1,))
    text = project.pipeline.read_text()
    project.pipeline.write_text(text + """\
  rehearsal:
    provider: sim
    prompt: "a rehearsal"
    output: "rehearsal.png"
""")
    asked = terminal(monkeypatch, answer=False)

    result = seedflow("apply", "p.yaml")

    assert (result.code, asked) == (1, ["Start the paid tasks listed above?"])
    assert result.out == "\n".join([
        "apply will create (paid):",
        "  + shots[thing=mug, seed=1]",
        "apply will create (simulated, free):",
        "  + rehearsal",
        "Plan: 2 to create (1 paid, 1 simulated), 0 to resume, 0 to restore, 0 to relink, "
        "0 orphaned, 0 unchanged.",
        "Cost: 2 images, estimated 5 credits; 1 of them simulated.",
    ]) + "\n"
    assert sim.counters.create_requests == 0


def test_locked_names_simulated_generation_for_what_it_is(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    project.write(provider="sim", things=("mug",), seeds=(1,))

    result = seedflow("apply", "p.yaml", "--locked")

    assert result.code == 1
    assert result.err == ("error: --locked: 1 combinations are not in the lockfile and would "
                          "need simulated generation:\n  shots[thing=mug, seed=1]\nRun "
                          "`seedflow apply` without --locked (and commit the lockfile) to "
                          "generate them\n")
