"""`weighted_tiered`: one blended unit price b = graduated amount ÷ q (6 places, half-up); amount = q * b.

The invoice shows a single line at b (Monigo's "weighted average across tiers"). Because b is rounded
before multiplying, the amount can differ from the graduated amount by a fraction of a minor unit:
q = 3 over tiers 1@1, 2@2, rest@2.5 gives b = 1.833333 and amount 5.499999, billed 5.50.
"""

from decimal import Decimal
from typing import Literal

from meterflow.domain.money import unit_price_of
from meterflow.domain.pricing.tiers import TieredPriceBase, graduated_amount


class WeightedTieredPrice(TieredPriceBase):
    model: Literal["weighted_tiered"]

    def blended_unit_price(self, quantity: Decimal) -> Decimal | None:
        """b for q; None for q = 0, which is billed 0 and has no units to blend over."""
        if quantity == 0:
            return None
        return unit_price_of(graduated_amount(self.tiers, quantity), quantity)

    def amount(self, quantity: Decimal) -> Decimal:
        blended = self.blended_unit_price(quantity)
        return Decimal(0) if blended is None else quantity * blended

    def line_unit_price(self, quantity: Decimal) -> Decimal | None:
        return self.blended_unit_price(quantity)

    def describe(self) -> str:
        return "blended price across tiers"
