"""`tiered` (graduated): each unit is priced by the tier it falls in, plus each entered tier's flat_fee."""

from decimal import Decimal
from typing import Literal

from meterflow.domain.pricing.tiers import TieredPriceBase, effective_unit_price, graduated_amount


class TieredPrice(TieredPriceBase):
    model: Literal["tiered"]

    def amount(self, quantity: Decimal) -> Decimal:
        return graduated_amount(self.tiers, quantity)

    def line_unit_price(self, quantity: Decimal) -> Decimal | None:
        return effective_unit_price(self.amount(quantity), quantity)

    def describe(self) -> str:
        return "graduated tiers"
