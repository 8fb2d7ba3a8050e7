"""What a plan's ``create`` actions are estimated to cost, and the budget check (pure).

Prices are per image, in one unit the user picks (``prices.unit``, default ``credits``).
A pipeline's ``prices`` come first; otherwise each provider's published default
(:attr:`seedflow.providers.ProviderSpec.default_price`, None where it publishes none: that
cost is "unknown" until ``prices.<provider>`` is set).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from seedflow.errors import SeedflowError
from seedflow.pipeline.model import PriceTable
from seedflow.plan.diff import Action, PlanItem
from seedflow.providers import PROVIDERS


def price(prices: PriceTable, provider: str) -> float | None:
    """The price of one image on ``provider``: the pipeline's, else the published default."""
    if provider in prices.per_image:
        return prices.per_image[provider]
    spec = PROVIDERS.get(provider)
    return spec.default_price if spec else None


@dataclass(frozen=True)
class Estimate:
    tasks: int
    images: int
    cost: float                   # of the images whose price is known
    unit: str
    unpriced: Mapping[str, int]   # provider → images with no known price
    simulated: int = 0            # images on a simulated provider (no money changes hands)

    def describe(self) -> str:
        """What follows ``Cost:`` (the number of tasks is the plan line's, not repeated)."""
        if self.images and self.simulated == self.images and not (self.cost or self.unpriced):
            return f"nothing ({plural(self.images, 'simulated image')})"
        text = f"{plural(self.images, 'image')}, estimated {amount(self.cost)} {self.unit}"
        if self.unpriced:
            missing = ", ".join(f"{n:,} on {p}" for p, n in sorted(self.unpriced.items()))
            text += f" plus {missing} at an unknown price (set `prices.<provider>`)"
        if self.simulated:
            text += f"; {self.simulated:,} of them simulated"
        return text


def plural(count: int, noun: str) -> str:
    """``1 image``, ``1,234 images``."""
    return f"{count:,} {noun}{'s' * (count != 1)}"


def amount(value: float) -> str:
    """A price with thousands separators and no float noise: ``1,234.5``, ``0.085``, ``0``."""
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def estimate(items: Iterable[PlanItem], prices: PriceTable) -> Estimate:
    tasks = images = simulated = 0
    cost = 0.0
    unpriced: dict[str, int] = {}
    for item in items:
        if item.action != Action.CREATE or item.combination is None:
            continue
        combo = item.combination
        count = len(combo.outputs)
        tasks += 1
        images += count
        simulated += count if item.simulated else 0
        each = price(prices, combo.provider)
        if each is None:
            unpriced[combo.provider] = unpriced.get(combo.provider, 0) + count
        else:
            cost += each * count
    return Estimate(tasks, images, round(cost, 6), prices.unit, unpriced, simulated)


def check_budget(est: Estimate, *, max_images: int | None, max_cost: float | None) -> None:
    """Refuse (before anything is sent) a plan that would exceed the budget."""
    if max_images is not None and est.images > max_images:
        raise SeedflowError(f"budget exceeded: this apply would generate {est.images:,} images, "
                            f"more than the budget of {max_images:,}. Narrow it with --target, "
                            "or raise `budget.max_images` / --max-images")
    if max_cost is None:
        return
    if est.unpriced:
        raise SeedflowError(f"budget.max_cost is set but the price per image is unknown for "
                            f"{', '.join(sorted(est.unpriced))}; set `prices.<provider>` so the "
                            "budget can be checked")
    if est.cost > max_cost:
        raise SeedflowError(f"budget exceeded: estimated {amount(est.cost)} {est.unit} for "
                            f"{est.images:,} images, more than the budget of {amount(max_cost)} "
                            f"{est.unit}. Narrow it with --target, or raise `budget.max_cost` / "
                            "--max-cost")

