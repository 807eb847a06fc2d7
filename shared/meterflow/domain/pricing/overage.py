"""`overage`: a base fee covers `included_units`; each unit beyond is charged at `unit_price`.

Monigo's `{"tiers": {base_price, included_units, overage_price}}` form is accepted and rewritten.
"""

from decimal import Decimal
from typing import Any, Literal

from pydantic import model_validator

from meterflow.domain.money import quantize_unit_price
from meterflow.domain.pricing.base import NonNegativeQuantity, PriceAmount, PriceBase, lift_tiers_object

_MONIGO_SETTINGS = {
    "base_price": "base_fee",
    "included_units": "included_units",
    "overage_price": "unit_price",
}


class OveragePrice(PriceBase):
    model: Literal["overage"]
    included_units: NonNegativeQuantity
    unit_price: PriceAmount
    base_fee: PriceAmount = Decimal(0)

    @model_validator(mode="before")
    @classmethod
    def _accept_monigo_tiers(cls, data: Any) -> Any:
        return lift_tiers_object(data, _MONIGO_SETTINGS)

    def amount(self, quantity: Decimal) -> Decimal:
        return self.base_fee + max(Decimal(0), quantity - self.included_units) * self.unit_price

    def line_unit_price(self, quantity: Decimal) -> Decimal:
        return quantize_unit_price(self.unit_price)

    def describe(self) -> str:
        base = f"base fee {self.base_fee}, " if self.base_fee else ""
        return f"{base}{self.included_units} included, then {self.unit_price} per unit"
