"""`volume`: all q units at the unit price of the one tier that contains q, plus that tier's flat_fee.

q = 0 falls in the first tier; its flat_fee is charged then only if `flat_fee_when_zero` is set, so a
customer who used nothing is not billed a usage fee unless the plan says so.
"""

from decimal import Decimal
from typing import Literal

from pydantic import StrictBool

from meterflow.domain.pricing.tiers import TieredPriceBase, effective_unit_price, tier_containing


class VolumePrice(TieredPriceBase):
    model: Literal["volume"]
    flat_fee_when_zero: StrictBool = False

    def amount(self, quantity: Decimal) -> Decimal:
        tier = tier_containing(self.tiers, quantity)
        charges_fee = quantity > 0 or self.flat_fee_when_zero
        return quantity * tier.unit_price + (tier.flat_fee if charges_fee else Decimal(0))

    def line_unit_price(self, quantity: Decimal) -> Decimal | None:
        return effective_unit_price(self.amount(quantity), quantity)

    def describe(self) -> str:
        return "volume tiers"
