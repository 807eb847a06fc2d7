"""Every worked case in the shared spec (shared/spec/vectors/pricing.json) is reproduced exactly.

The file is read in place, beside the repository; if it is missing, collection fails: a spec that cannot
be checked must not pass as "nothing to check".
"""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meterflow.domain.pricing import describe, parse_price, price_line

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "spec" / "vectors" / "pricing.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]


def test_the_vectors_hold_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_amount(case: dict[str, Any]) -> None:
    line = price_line(parse_price(case["price"]), Decimal(case["quantity"]), case["currency"])
    assert str(line.amount) == case["amount"]


# The unit price an invoice line shows, for the worked examples of docs/billing.md, "Prices".
WEIGHTED = {
    "model": "weighted_tiered",
    "tiers": [
        {"up_to": "1000", "unit_price": "8"},
        {"up_to": "5000", "unit_price": "6"},
        {"up_to": None, "unit_price": "4"},
    ],
}
SMALL_WEIGHTED = {
    "model": "weighted_tiered",
    "tiers": [
        {"up_to": "1", "unit_price": "1"},
        {"up_to": "2", "unit_price": "2"},
        {"up_to": None, "unit_price": "2.5"},
    ],
}
GRADUATED = {
    "model": "tiered",
    "tiers": [
        {"up_to": "100", "unit_price": "1", "flat_fee": "50"},
        {"up_to": None, "unit_price": "0.5"},
    ],
}


@pytest.mark.parametrize(
    ("raw", "quantity", "currency", "amount", "unit_price"),
    [
        (WEIGHTED, "6000", "NGN", "36000.00", "6.000000"),
        (SMALL_WEIGHTED, "3", "USD", "5.50", "1.833333"),
        (WEIGHTED, "0", "NGN", "0.00", None),
        ({"model": "flat_unit", "unit_price": "2.000000"}, "2", "NGN", "4.00", "2.000000"),
        ({"model": "overage", "included_units": "10", "unit_price": "0.25"}, "4", "USD", "0.00", "0.250000"),
        ({"model": "package", "package_size": "3", "package_price": "1"}, "4", "USD", "2.00", "0.333333"),
        (GRADUATED, "101", "USD", "150.50", "1.490099"),  # 150.5 / 101 = 1.4900990...
        (GRADUATED, "0", "USD", "0.00", None),
        (
            {
                "model": "volume",
                "tiers": [{"up_to": None, "unit_price": "1", "flat_fee": "2"}],
                "flat_fee_when_zero": True,
            },
            "0",
            "USD",
            "2.00",
            None,
        ),
    ],
)
def test_line_unit_price(
    raw: dict[str, Any], quantity: str, currency: str, amount: str, unit_price: str | None
) -> None:
    line = price_line(parse_price(raw), Decimal(quantity), currency)
    assert (str(line.amount), None if line.unit_price is None else str(line.unit_price)) == (
        amount,
        unit_price,
    )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ({"model": "flat", "unit_price": "2.000000"}, "2.000000 per unit"),
        ({"model": "package", "package_size": "100", "package_price": "5.00"}, "package of 100 at 5.00"),
        (GRADUATED, "graduated tiers"),
        (
            {"model": "overage", "included_units": "1000", "unit_price": "0.10"},
            "1000 included, then 0.10 per unit",
        ),
    ],
)
def test_describe(raw: dict[str, Any], text: str) -> None:
    assert describe(parse_price(raw)) == text


# A negative quantity is billed as zero (docs/billing.md, "Aggregations"): tests/unit/test_pricing_negative.py.
@pytest.mark.parametrize("quantity", ["NaN", "Infinity", "-Infinity"])
def test_a_quantity_that_cannot_be_billed_is_refused(quantity: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        price_line(parse_price({"model": "flat", "unit_price": "1"}), Decimal(quantity), "USD")
