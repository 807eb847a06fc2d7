"""Pricing: what a quantity of usage costs under a plan's price (docs/billing.md, "Prices"; docs/pricing.md).

One module per price model (`flat`, `tiered`, `volume`, `package`, `overage`, `weighted_tiered`), each a
frozen pydantic model implementing the `PriceModel` protocol; shared tier arithmetic lives in `tiers`.
Everything is exact `Decimal`; the only rounding to money is `meterflow.domain.money.round_money`,
applied once per line by `price_line` (see `line` for which unit price a line shows).
"""

from meterflow.domain.pricing.base import PriceError, PriceModel
from meterflow.domain.pricing.line import LineAmount, describe, price_line
from meterflow.domain.pricing.parse import Price, parse_price

__all__ = ["LineAmount", "Price", "PriceError", "PriceModel", "describe", "parse_price", "price_line"]
