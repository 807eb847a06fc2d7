"""Refusals name the faulty field (docs/billing.md, "Prices": a 400 naming the field), and accepted forms
normalise to one canonical price."""

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter

from meterflow.domain.pricing import Price, PriceError, parse_price
from meterflow.domain.pricing.flat import FlatPrice
from meterflow.domain.pricing.overage import OveragePrice
from meterflow.domain.pricing.package import PackagePrice


def tiers(*rows: tuple[Any, Any]) -> list[dict[str, Any]]:
    return [{"up_to": up_to, "unit_price": price} for up_to, price in rows]


ASCENDING = tiers(("10", "1"), ("20", "0.5"), (None, "0.25"))


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        pytest.param({"model": "stairstep", "unit_price": "1"}, "model", id="unknown model"),
        pytest.param({"unit_price": "1"}, "model", id="missing model"),
        pytest.param({"model": "flat"}, "unit_price", id="missing unit_price"),
        pytest.param({"model": "flat", "unit_price": "two"}, "unit_price", id="non-numeric price"),
        pytest.param({"model": "flat", "unit_price": True}, "unit_price", id="boolean price"),
        pytest.param({"model": "flat", "unit_price": None}, "unit_price", id="null price"),
        pytest.param({"model": "flat", "unit_price": "NaN"}, "unit_price", id="NaN price"),
        pytest.param({"model": "flat", "unit_price": "-0.01"}, "unit_price", id="negative price"),
        pytest.param({"model": "flat", "unit_price": "0.0000001"}, "unit_price", id="7 decimal places"),
        pytest.param({"model": "flat", "unit_price": 0.1 + 0.2}, "unit_price", id="float noise"),
        pytest.param({"model": "flat", "unit_price": "1", "tiers": []}, "tiers", id="field of another model"),
        pytest.param({"model": "tiered", "tiers": []}, "tiers", id="empty tiers"),
        pytest.param({"model": "flat", "unit_price": "1E+999999999"}, "unit_price", id="absurdly large"),
        pytest.param(
            {"model": "tiered", "tiers": [{"up_to": None, "unit_price": "1", "fee": "1"}]},
            "tiers[0].fee",
            id="unknown tier field",
        ),
        pytest.param({"model": "tiered"}, "tiers", id="missing tiers"),
        pytest.param(
            {"model": "tiered", "tiers": tiers(("10", "1"), ("10", "1"), (None, "1"))},
            "tiers[1].up_to",
            id="equal up_to",
        ),
        pytest.param(
            {"model": "tiered", "tiers": tiers(("10", "1"), ("20", "1"), ("15", "1"), (None, "1"))},
            "tiers[2].up_to",
            id="descending up_to",
        ),
        pytest.param(
            {"model": "tiered", "tiers": tiers((None, "1"), ("10", "1"), (None, "1"))},
            "tiers[0].up_to",
            id="null up_to not last",
        ),
        pytest.param(
            {"model": "tiered", "tiers": tiers(("10", "1"), ("20", "1"))},
            "tiers[1].up_to",
            id="no final null",
        ),
        pytest.param(
            {"model": "tiered", "tiers": [{"up_to": "10", "unit_price": "1"}, {"unit_price": "1"}]},
            "tiers[1].up_to",
            id="missing up_to",
        ),
        pytest.param(
            {"model": "tiered", "tiers": tiers(("0", "1"), (None, "1"))}, "tiers[0].up_to", id="zero up_to"
        ),
        pytest.param(
            {"model": "tiered", "tiers": tiers(("abc", "1"), (None, "1"))},
            "tiers[0].up_to",
            id="non-numeric up_to",
        ),
        pytest.param(
            {"model": "volume", "tiers": tiers(("10", "1"), (None, "-1"))},
            "tiers[1].unit_price",
            id="negative tier price",
        ),
        pytest.param(
            {"model": "volume", "tiers": [{"up_to": None, "unit_price": "1", "flat_fee": "0.1234567"}]},
            "tiers[0].flat_fee",
            id="flat_fee with 7 places",
        ),
        pytest.param(
            {"model": "weighted_tiered", "tiers": tiers(("5", "1"), ("2", "1"), (None, "1"))},
            "tiers[1].up_to",
            id="weighted descending",
        ),
        pytest.param(
            {"model": "tiered", "tiers": ASCENDING, "flat_fee_when_zero": True},
            "flat_fee_when_zero",
            id="volume-only field on tiered",
        ),
        pytest.param(
            {"model": "package", "package_size": "0", "package_price": "1"},
            "package_size",
            id="package_size zero",
        ),
        pytest.param(
            {"model": "package", "package_size": "-5", "package_price": "1"},
            "package_size",
            id="package_size negative",
        ),
        pytest.param({"model": "package", "package_size": "10"}, "package_price", id="missing package_price"),
        pytest.param(
            {"model": "package", "tiers": {"package_size": 0, "package_price": "1"}},
            "package_size",
            id="monigo package_size zero",
        ),
        pytest.param(
            {"model": "package", "tiers": {"package_size": 10, "package_price": "1", "size": 2}},
            "tiers.size",
            id="monigo unknown setting",
        ),
        pytest.param(
            {"model": "package", "package_size": 5, "tiers": {"package_size": 10, "package_price": "1"}},
            "tiers.package_size",
            id="monigo setting given twice",
        ),
        pytest.param(
            {"model": "overage", "included_units": "-1", "unit_price": "1"},
            "included_units",
            id="negative included_units",
        ),
        pytest.param({"model": "overage", "included_units": "10"}, "unit_price", id="missing overage price"),
        pytest.param(
            {"model": "overage", "tiers": {"base_price": "-5", "included_units": 1, "overage_price": 1}},
            "base_fee",
            id="monigo negative base_price",
        ),
    ],
)
def test_refusal_names_the_field(raw: dict[str, Any], param: str) -> None:
    with pytest.raises(PriceError) as refused:
        parse_price(raw)
    assert refused.value.param == param
    assert refused.value.message


def test_unknown_model_lists_the_supported_ones() -> None:
    with pytest.raises(PriceError) as refused:
        parse_price({"model": "stairstep"})
    for name in ("flat", "flat_unit", "tiered", "volume", "package", "overage", "weighted_tiered"):
        assert name in refused.value.message


def test_a_refusal_is_a_value_error_that_reads_as_field_and_reason() -> None:
    with pytest.raises(ValueError, match=r"^package_size: must be greater than 0$"):
        parse_price({"model": "package", "package_size": "0", "package_price": "1"})


def test_plan_keys_are_ignored() -> None:
    price = parse_price({"model": "flat", "unit_price": "1", "metric_id": "met_1", "id": "price_1"})
    assert price == FlatPrice(model="flat", unit_price=Decimal("1"))


def test_flat_unit_is_stored_as_flat() -> None:
    assert parse_price({"model": "flat_unit", "unit_price": "2.000000"}).model == "flat"


@pytest.mark.parametrize("number", [2.5, "2.5", " 2.5 ", "2.500000", "25e-1", Decimal("2.5")])
def test_prices_may_be_json_numbers_or_decimal_strings(number: object) -> None:
    price = parse_price({"model": "flat", "unit_price": number})
    assert isinstance(price, FlatPrice)
    assert price.unit_price == Decimal("2.5")


def test_exponent_notation_is_stored_plainly() -> None:
    price = parse_price({"model": "package", "package_size": "1E+3", "package_price": "5.00"})
    assert isinstance(price, PackagePrice)
    assert str(price.package_size) == "1000"


def test_monigo_package_settings_normalise() -> None:
    monigo = {
        "model": "package",
        "tiers": {"package_size": 1000, "package_price": "500", "round_up_partial_block": False},
    }
    assert parse_price(monigo) == PackagePrice(
        model="package", package_size=Decimal(1000), package_price=Decimal(500), round_up_partial_block=False
    )


def test_monigo_overage_settings_normalise() -> None:
    monigo = {
        "model": "overage",
        "tiers": {"base_price": "5000", "included_units": 1000, "overage_price": "0.1"},
    }
    assert parse_price(monigo) == OveragePrice(
        model="overage", included_units=Decimal(1000), unit_price=Decimal("0.1"), base_fee=Decimal(5000)
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"model": "flat_unit", "unit_price": "2.000000"},
        {"model": "volume", "tiers": ASCENDING, "flat_fee_when_zero": True},
        {"model": "weighted_tiered", "tiers": ASCENDING},
        {"model": "package", "tiers": {"package_size": "10", "package_price": "1"}},
    ],
)
def test_a_parsed_price_round_trips_through_json(raw: dict[str, Any]) -> None:
    price = parse_price(raw)
    assert parse_price(price.model_dump(mode="json")) == price


def test_price_is_usable_as_a_pydantic_field_type() -> None:
    adapter: TypeAdapter[Price] = TypeAdapter(Price)
    assert adapter.validate_python({"model": "flat_unit", "unit_price": "1"}) == parse_price(
        {"model": "flat", "unit_price": "1"}
    )


def test_an_integer_json_number_is_a_price() -> None:
    price = parse_price({"model": "flat", "unit_price": 2})
    assert isinstance(price, FlatPrice)
    assert price.unit_price == Decimal(2)


def test_monigo_aliases_parse_to_the_same_prices() -> None:
    """docs/monigo.md: `per_unit` is flat; a tier's `unit_amount` is its unit_price, `up_to` an integer."""
    assert parse_price({"model": "per_unit", "unit_price": "2.000000"}) == parse_price(
        {"model": "flat", "unit_price": "2"})
    monigo = parse_price({"model": "tiered", "tiers": [{"up_to": 10, "unit_amount": "1.000000"},
                                                       {"up_to": None, "unit_amount": "0.500000"}]})
    assert monigo == parse_price({"model": "tiered", "tiers": tiers(("10", "1"), (None, "0.5"))})
    assert monigo.amount(Decimal(12)) == Decimal(11)


def test_a_tier_priced_under_both_names_is_refused() -> None:
    with pytest.raises(PriceError) as caught:
        parse_price({"model": "volume", "tiers": [{"up_to": None, "unit_amount": "1", "unit_price": "1"}]})
    assert caught.value.param == "tiers[0]"


@pytest.mark.parametrize(("round_up", "packages"), [(True, 3), (False, 2)])
def test_monigo_package_object_honours_round_up_partial_block(round_up: bool, packages: int) -> None:
    price = parse_price({"model": "package", "tiers": {"package_size": 2, "package_price": "3.000000",
                                                       "round_up_partial_block": round_up}})
    assert price.amount(Decimal(5)) == packages * 3
