"""Money: the one place where a computed amount becomes money, and where a unit price is rounded.

Invariants (docs/billing.md, "Money and rounding"):
- every line amount is rounded exactly once, half-up, to its currency's ISO 4217 minor unit, and that
  happens only in `round_money`; everything before it is exact Decimal arithmetic;
- derived unit prices (blended, effective, per-package) are rounded half-up to 6 decimal places, here;
- an unknown currency is an error, never a default exponent: guessing 2 would misbill JPY or KWD.

Each function passes its own `Context`, so the result does not depend on whatever decimal context the
caller's thread happens to have (pricing runs under a context that traps any inexact operation).
"""

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_DOWN, ROUND_HALF_UP, Context, Decimal

from meterflow.domain.currencies import MINOR_UNIT_EXPONENTS

UNIT_PRICE_PLACES = 6
_UNIT_PRICE_QUANTUM = Decimal(1).scaleb(-UNIT_PRICE_PLACES)

# Quantizing never computes more digits than its result holds, so unbounded precision costs nothing and
# means no amount is ever too large to round.
_MONEY = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_UP)

# A quotient has to be cut somewhere. Truncating (not rounding) keeps an exact half-way quotient such as
# 1.8333335 intact, and one digit more than the unit-price context guarantees the digit that decides the
# half-up step is kept; a quotient too large for that makes the quantize raise instead of misround.
_UNIT_PRICE = Context(prec=50, rounding=ROUND_HALF_UP)
_QUOTIENT = Context(prec=_UNIT_PRICE.prec + 1, rounding=ROUND_DOWN)


class UnknownCurrency(ValueError):
    """A currency code that is not an active ISO 4217 code with a minor unit."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}: expected an active ISO 4217 code such as USD or JPY")
        self.code = code


def is_known_currency(code: str) -> bool:
    return code in MINOR_UNIT_EXPONENTS


def minor_unit_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit: USD 2, JPY 0, KWD 3, CLF 4."""
    try:
        return MINOR_UNIT_EXPONENTS[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round once, half-up, to the currency's minor unit, keeping exactly that many places ("4.00", "2")."""
    quantum = Decimal(1).scaleb(-minor_unit_exponent(currency))
    return amount.quantize(quantum, rounding=ROUND_HALF_UP, context=_MONEY)


def quantize_unit_price(value: Decimal) -> Decimal:
    """Round a unit price half-up to 6 decimal places, the precision prices are written in."""
    return value.quantize(_UNIT_PRICE_QUANTUM, rounding=ROUND_HALF_UP, context=_UNIT_PRICE)


def unit_price_of(amount: Decimal, quantity: Decimal) -> Decimal:
    """amount ÷ quantity as a unit price: rounded once, half-up, to 6 places (quantity must not be 0)."""
    return quantize_unit_price(_QUOTIENT.divide(amount, quantity))
