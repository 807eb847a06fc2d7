"""`flat` (aliases `flat_unit` and Monigo's `per_unit`): every unit at one price, amount = q * unit_price."""

from decimal import Decimal
from typing import Literal

from pydantic import field_validator

from meterflow.domain.money import quantize_unit_price
from meterflow.domain.pricing.base import PriceAmount, PriceBase


class FlatPrice(PriceBase):
    # Every name selects this model; the alias is rewritten so pricing code sees only "flat" (the stored
    # definition keeps the name the client gave, which is what the API echoes).
    model: Literal["flat", "flat_unit", "per_unit"]
    unit_price: PriceAmount

    @field_validator("model")
    @classmethod
    def _canonical_name(cls, _name: str) -> Literal["flat"]:
        return "flat"

    def amount(self, quantity: Decimal) -> Decimal:
        return quantity * self.unit_price

    def line_unit_price(self, quantity: Decimal) -> Decimal:
        return quantize_unit_price(self.unit_price)

    def describe(self) -> str:
        return f"{self.unit_price} per unit"
