"""Cost estimates and budgets: a plan over budget is refused before anything is sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from applykit import Project, Run

from seedflow.sim import Simulator


def with_budget(project: Project, budget: str, prices: str = "") -> None:
    text = project.pipeline.read_text()
    project.pipeline.write_text(text.replace("output_dir: out\n",
                                             f"output_dir: out\n{budget}{prices}"))


@pytest.mark.parametrize(("budget", "flags", "message"), [
    ("budget: {max_images: 3}\n", (),
     "budget exceeded: this apply would generate 4 images, more than the budget of 3"),
    ("", ("--max-images", "2"),
     "budget exceeded: this apply would generate 4 images, more than the budget of 2"),
    ("budget: {max_cost: 10}\n", (),
     "budget exceeded: estimated 20 credits for 4 images, more than the budget of 10 credits"),
    ("", ("--max-cost", "19.5"),
     "budget exceeded: estimated 20 credits for 4 images, more than the budget of 19.5 credits"),
])
def test_a_plan_over_budget_is_refused_before_any_request(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        budget: str, flags: tuple[str, ...], message: str) -> None:
    env(sim)
    project.write(things=("mug", "lamp"), seeds=(1, 2))
    with_budget(project, budget)

    result = seedflow("apply", str(project.pipeline), "--yes", *flags)

    assert result.code == 1
    assert message in result.err
    assert sim.counters.create_requests == 0
    assert not project.lock.exists()


def test_within_budget_goes_ahead_and_the_plan_shows_the_cost(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    project.write(things=("mug", "lamp"), seeds=(1, 2))
    with_budget(project, "budget: {max_images: 4, max_cost: 13}\n",
                "prices: {unit: USD, apikley: 3.25}\n")

    markdown = seedflow("plan", str(project.pipeline), "--format", "markdown")
    assert "**Cost:** 4 images, estimated 13 USD." in markdown.out
    assert seedflow("apply", str(project.pipeline), "--yes").code == 0
    assert sim.counters.creates == 4


def test_an_unknown_price_cannot_be_budgeted(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    project.write(provider="modellix", things=("mug",), seeds=(1,))
    with_budget(project, "budget: {max_cost: 100}\n")
    plan = seedflow("plan", str(project.pipeline))
    assert "plus 1 on modellix at an unknown price (set `prices.<provider>`)" in plan.out
    result = seedflow("apply", str(project.pipeline), "--yes")
    assert result.code == 1
    assert "the price per image is unknown for modellix" in result.err
    assert sim.counters.create_requests == 0
