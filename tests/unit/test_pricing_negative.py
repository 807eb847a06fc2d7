"""docs/billing.md, "Aggregations": a negative period quantity is billed as zero by every price model, never a credit
and never a crash; the line still shows the quantity as it is (see tests/unit/test_invoices.py)."""

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.pricing import parse_price, price_line

TIERS = [{"up_to": "10", "unit_price": "1", "flat_fee": "5"}, {"up_to": None, "unit_price": "0.5"}]
# Each model with what it bills for q = 0, which is what it must bill for any q < 0.
MODELS: list[tuple[dict[str, Any], str]] = [
    ({"model": "flat", "unit_price": "2.50"}, "0.00"),
    ({"model": "tiered", "tiers": TIERS}, "0.00"),
    ({"model": "volume", "tiers": TIERS}, "0.00"),
    ({"model": "volume", "tiers": TIERS, "flat_fee_when_zero": True}, "5.00"),
    ({"model": "package", "package_size": "100", "package_price": "5"}, "0.00"),
    ({"model": "overage", "included_units": "10", "unit_price": "1", "base_fee": "20"}, "20.00"),
    ({"model": "weighted_tiered", "tiers": TIERS}, "0.00"),
]


@pytest.mark.parametrize(("definition", "at_zero"), MODELS, ids=lambda v: str(v.get("model", v)) if isinstance(
    v, dict) else v)
@pytest.mark.parametrize("quantity", ["-5", "-0.000001", "-1E+6", "-0"])
def test_a_negative_quantity_is_billed_like_zero(definition: dict[str, Any], at_zero: str, quantity: str) -> None:
    price = parse_price(definition)
    line = price_line(price, Decimal(quantity), "USD")
    assert line.amount == Decimal(at_zero)
    assert str(line.amount) == at_zero  # never "-0.00"
    assert line == price_line(price, Decimal(0), "USD")


@given(st.decimals(max_value=0, allow_nan=False, allow_infinity=False, places=6),
       st.sampled_from([d for d, _ in MODELS]))
def test_no_negative_quantity_makes_a_line_fail_or_go_below_zero(quantity: Decimal,
                                                                 definition: dict[str, Any]) -> None:
    assert price_line(parse_price(definition), quantity, "USD").amount >= 0


def test_a_non_finite_quantity_is_still_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        price_line(parse_price(MODELS[0][0]), Decimal("NaN"), "USD")
