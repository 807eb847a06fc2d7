"""`package`: units are sold in whole packages, amount = ceil(q ÷ package_size) * package_price.

`round_up_partial_block: false` (Monigo) sells only complete packages: a partial one is free. Monigo's
`{"tiers": {package_size, package_price, round_up_partial_block}}` form is accepted and rewritten.
"""

from decimal import Decimal
from typing import Any, Literal

from pydantic import StrictBool, model_validator

from meterflow.domain.money import unit_price_of
from meterflow.domain.pricing.base import PositiveQuantity, PriceAmount, PriceBase, lift_tiers_object

_MONIGO_SETTINGS = {name: name for name in ("package_size", "package_price", "round_up_partial_block")}


class PackagePrice(PriceBase):
    model: Literal["package"]
    package_size: PositiveQuantity
    package_price: PriceAmount
    round_up_partial_block: StrictBool = True

    @model_validator(mode="before")
    @classmethod
    def _accept_monigo_tiers(cls, data: Any) -> Any:
        return lift_tiers_object(data, _MONIGO_SETTINGS)

    def packages(self, quantity: Decimal) -> Decimal:
        # divmod, not q / size: the quotient is an exact integer, with no rounding before the ceiling.
        whole, partial = divmod(quantity, self.package_size)
        return whole + 1 if partial and self.round_up_partial_block else whole

    def amount(self, quantity: Decimal) -> Decimal:
        return self.packages(quantity) * self.package_price

    def line_unit_price(self, quantity: Decimal) -> Decimal:
        return unit_price_of(self.package_price, self.package_size)

    def describe(self) -> str:
        partial = "" if self.round_up_partial_block else ", partial package not charged"
        return f"package of {self.package_size} at {self.package_price}{partial}"
