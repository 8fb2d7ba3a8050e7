"""Cost estimates and the budget check (seedflow/plan/cost.py)."""

from __future__ import annotations

import pytest

from seedflow.errors import SeedflowError
from seedflow.pipeline.model import PriceTable
from seedflow.plan.combos import Combination
from seedflow.plan.cost import Estimate, check_budget, estimate, price
from seedflow.plan.diff import Action, PlanItem


def item(provider: str, images: int = 1, action: Action = Action.CREATE, n: int = 0) -> PlanItem:
    combo = Combination(asset="a", address=f"a[n={n}]", provider=provider, vars={"n": n},
                        request={}, fingerprint=f"{n:032x}",
                        outputs=tuple(f"a/{n}-{i}.png" for i in range(1, images + 1)),
                        unsent={})
    return PlanItem(action, combo, None)


def test_published_prices_unless_the_pipeline_sets_its_own() -> None:
    defaults = PriceTable()
    assert [price(defaults, p) for p in ("apikley", "modellix", "sim", "sim:modellix")] == [
        5.0, None, 0.0, 0.0]
    assert price(defaults, "not-a-provider") is None
    own = PriceTable(unit="USD", per_image={"apikley": 0.0, "modellix": 0.03})
    assert (price(own, "apikley"), price(own, "modellix"), price(own, "sim")) == (0.0, 0.03, 0.0)


def test_only_creates_are_counted() -> None:
    items = [item("apikley", 2, n=1), item("sim", 1, n=2), item("apikley", 3, Action.RESUME),
             item("apikley", 1, Action.RESTORE), item("apikley", 1, Action.UNCHANGED),
             PlanItem(Action.ORPHAN, None, None)]
    est = estimate(items, PriceTable())
    assert est == Estimate(tasks=2, images=3, cost=10.0, unit="credits", unpriced={},
                           simulated=1)
    assert est.describe() == "3 images, estimated 10 credits; 1 of them simulated"


def test_images_at_an_unknown_price_are_listed_per_provider() -> None:
    items = [item("modellix", 2, n=1), item("apikley", n=2), item("modellix", n=3),
             item("elsewhere", n=4)]
    est = estimate(items, PriceTable())
    assert est == Estimate(tasks=4, images=5, cost=5.0, unit="credits",
                           unpriced={"modellix": 3, "elsewhere": 1})
    assert est.describe() == ("5 images, estimated 5 credits plus 1 on elsewhere, 3 on "
                              "modellix at an unknown price (set `prices.<provider>`)")


def test_the_pipelines_unit_and_prices() -> None:
    est = estimate([item("modellix", 2, n=1), item("apikley", 1, n=2)],
                   PriceTable(unit="USD", per_image={"modellix": 0.03, "apikley": 0.025}))
    assert est.describe() == "3 images, estimated 0.085 USD"


def test_nothing_to_create_costs_nothing() -> None:
    est = estimate([item("apikley", action=Action.UNCHANGED)], PriceTable())
    assert est.describe() == "0 images, estimated 0 credits"


def test_the_simulator_costs_nothing_and_is_not_called_paid() -> None:
    est = estimate([item("sim", 2, n=1), item("sim:modellix", n=2)], PriceTable())
    assert est == Estimate(tasks=2, images=3, cost=0.0, unit="credits", unpriced={},
                           simulated=3)
    assert est.describe() == "nothing (3 simulated images)"
    one = estimate([item("sim", n=1)], PriceTable())
    assert one.describe() == "nothing (1 simulated image)"


def test_a_priced_simulator_rehearses_the_estimate() -> None:
    est = estimate([item("sim", 2, n=1)], PriceTable(per_image={"sim": 1.5}))
    assert est.describe() == "2 images, estimated 3 credits; 2 of them simulated"


def test_large_figures_have_thousands_separators() -> None:
    est = estimate([item("apikley", 1000, n=1), item("apikley", 234, n=2),
                    item("modellix", 1500, n=3)],
                   PriceTable(unit="USD", per_image={"apikley": 1000.25}))
    assert est.describe() == ("2,734 images, estimated 1,234,308.5 USD plus 1,500 on modellix "
                              "at an unknown price (set `prices.<provider>`)")


KNOWN = estimate([item("apikley", 2, n=1)], PriceTable())           # 2 images, 10 credits
UNKNOWN = estimate([item("apikley", n=1), item("modellix", n=2)], PriceTable())


def refusal(est: Estimate, *, max_images: int | None = None,
            max_cost: float | None = None) -> str:
    with pytest.raises(SeedflowError) as caught:
        check_budget(est, max_images=max_images, max_cost=max_cost)
    return str(caught.value)


def test_a_plan_within_budget_passes() -> None:
    check_budget(KNOWN, max_images=2, max_cost=10)
    check_budget(KNOWN, max_images=None, max_cost=None)
    check_budget(UNKNOWN, max_images=5, max_cost=None)  # no cost budget: unknown prices are fine


def test_too_many_images_is_refused() -> None:
    assert refusal(KNOWN, max_images=1, max_cost=100) == (
        "budget exceeded: this apply would generate 2 images, more than the budget of 1. "
        "Narrow it with --target, or raise `budget.max_images` / --max-images")


def test_too_much_cost_is_refused() -> None:
    assert refusal(KNOWN, max_cost=9.5) == (
        "budget exceeded: estimated 10 credits for 2 images, more than the budget of 9.5 "
        "credits. Narrow it with --target, or raise `budget.max_cost` / --max-cost")


def test_a_cost_budget_needs_every_price() -> None:
    assert refusal(UNKNOWN, max_cost=1000) == (
        "budget.max_cost is set but the price per image is unknown for modellix; set "
        "`prices.<provider>` so the budget can be checked")


def test_the_image_budget_is_checked_first() -> None:
    assert refusal(UNKNOWN, max_images=1, max_cost=0).startswith(
        "budget exceeded: this apply would generate 2 images")
