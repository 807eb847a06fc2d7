"""Pricing one invoice line: the exact amount, rounded once to money, and the unit price shown beside it.

The line's `unit_price`:
- `flat`, `overage`: the price's own unit_price (for overage, the price per unit beyond the included ones);
- `package`: package_price ÷ package_size, 6 places half-up;
- `weighted_tiered`: the blended b the amount was computed from (docs/billing.md, "Prices");
- `tiered`, `volume`: the effective price, exact amount ÷ q, 6 places half-up, so that a reader can see
  what one unit cost on average; None when q = 0 (nothing to divide by; likewise for weighted_tiered).
The shown unit price is informative only: the amount is never recomputed from it (except weighted_tiered,
whose definition is q * b).

A negative quantity (a `sum` of corrections, docs/billing.md, "Aggregations") is priced as zero: no model ever
creates a credit implicitly, and no accepted usage value can make an invoice fail to compute. The line
still shows the quantity as it is; only the price applies to max(q, 0).
"""

from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext

from meterflow.domain.money import round_money
from meterflow.domain.pricing.base import PriceModel

# Amounts are sums and products of exact decimals; 1000 digits hold any of them, and trapping Inexact
# turns an accidental division or an absurd input into an error instead of a silent rounding.
_EXACT = Context(prec=1000, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])


@dataclass(frozen=True)
class LineAmount:
    amount: Decimal
    unit_price: Decimal | None


def price_line(price: PriceModel, quantity: Decimal, currency: str) -> LineAmount:
    """Line for `quantity`: amount rounded once, half-up, to the currency's minor unit; shown unit price."""
    if not quantity.is_finite():
        raise ValueError(f"quantity must be a finite decimal, got {quantity}")
    billed = quantity if quantity > 0 else Decimal(0)  # also turns -0 into 0
    with localcontext(_EXACT):
        amount = price.amount(billed)
        unit_price = price.line_unit_price(billed)
    return LineAmount(amount=round_money(amount, currency), unit_price=unit_price)


def describe(price: PriceModel) -> str:
    """Short human text for an invoice line, e.g. "2.000000 per unit" or "package of 100 at 5.00"."""
    return price.describe()
