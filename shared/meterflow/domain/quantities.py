"""The domain of a numeric usage value, and the arithmetic that keeps every quantity exact within it.

A numeric property value (what `sum`, `max`, `minimum` and `average` read) is accepted only if it is
finite, |v| < 10^18, and has at most 18 decimal places: 36 significant digits at most. Anything else is
refused at the edge (a 400 naming the field, or a dead letter with the reason) instead of reaching the
processor, where one value like `1e9999999` used to stop counting for everyone.

Within that domain, a sum of up to 10^24 values needs at most 18 + 24 + 18 = 60 digits, so
`QUANTITY_CONTEXT` (prec 80) adds, compares and divides without ever rounding a sum (the default decimal
context rounds to 28 digits). Its traps turn any impossible case into an exception (isolated and
reported by the caller) instead of a silently wrong figure.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

MAX_VALUE_INTEGER_DIGITS = 18
MAX_VALUE_DECIMAL_PLACES = 18
VALUE_LIMIT = Decimal(10) ** MAX_VALUE_INTEGER_DIGITS

QUANTITY_CONTEXT = Context(prec=80, rounding=ROUND_HALF_UP, Emax=999_999, Emin=-999_999,
                           traps=[InvalidOperation, DivisionByZero, Overflow])


def value_fault(value: Decimal) -> str | None:
    """Why `value` is outside the domain of a usage value, or None when it is inside."""
    if not value.is_finite():
        return "must be a finite number"
    # copy_abs and compare are exact whatever the exponent: no context, so no overflow on 1e9999999.
    if value.copy_abs() >= VALUE_LIMIT:
        return f"must be greater than -1e{MAX_VALUE_INTEGER_DIGITS} and less than 1e{MAX_VALUE_INTEGER_DIGITS}"
    if decimal_places(value) > MAX_VALUE_DECIMAL_PLACES:
        return f"must have at most {MAX_VALUE_DECIMAL_PLACES} decimal places"
    return None


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of a finite value, trailing zeros ignored (`1.500` has 1), computed
    from its digits so that no context can round it first."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent >= 0:
        return 0
    # The digits as bytes 0-9: their trailing zeros are stripped in C (every summed value passes here).
    significant = bytes(digits).rstrip(b"\0")
    if not significant:
        return 0
    return max(0, -(exponent + len(digits) - len(significant)))
