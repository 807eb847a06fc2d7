"""A plan's prices as received, checked: each item names a metric of the mode and a definition pricing parses
(a refusal names the item's field), an item with an `id` updates that price, money is stored as decimal text."""

from __future__ import annotations

import pytest

from meterflow.domain.catalog import PlanPrice
from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.plan_prices import checked_prices, merged_items, metric_ids_named
from meterflow.domain.pricing import parse_price

FLAT = {"model": "flat", "unit_price": "1.50"}
EXISTING = (PlanPrice.parse("price_a", "met_a", FLAT),
            PlanPrice.parse("price_b", "met_b", {"model": "flat", "unit_price": "2"}))


def check(raw: list[dict[str, object]], existing: tuple[PlanPrice, ...] = (),
          known: tuple[str, ...] = ("met_a", "met_b")) -> tuple[PlanPrice, ...]:
    return checked_prices(merged_items(raw, existing), Mode.TEST, known, existing)


def test_new_prices_get_ids_and_money_is_stored_as_decimal_text_whatever_number_form_was_sent() -> None:
    [price] = check([{"metric_id": "met_a", "model": "flat", "unit_price": 0.25}])
    assert price.id.startswith("price_") and price.metric_id == "met_a"
    assert price.wire == {"model": "flat", "unit_price": "0.25"} and price.definition == parse_price(price.wire)


def test_an_item_with_an_id_updates_that_price_in_place_and_the_others_stay_in_their_order() -> None:
    prices = check([{"metric_id": "met_a", **FLAT}, {"id": "price_a", "unit_price": "3"}], EXISTING)
    assert [p.id for p in prices[:2]] == ["price_a", "price_b"] and len(prices) == 3
    assert prices[0].wire == {"model": "flat", "unit_price": "3"} and prices[1] == EXISTING[1]


@pytest.mark.parametrize(("raw", "param"), [
    ([{"model": "flat", "unit_price": "1"}], "prices[0].metric_id"),
    ([FLAT, {"metric_id": "met_other", **FLAT}], "prices[0].metric_id"),
    ([{"metric_id": "met_a", **FLAT}, {"metric_id": "met_other", **FLAT}], "prices[1].metric_id"),
    ([{"metric_id": "met_a", "model": "tiered", "tiers": [{"up_to": "x", "unit_price": "1"}]}],
     "prices[0].tiers[0].up_to"),
    ([{"id": "price_unknown", "unit_price": "1"}], "prices[0].id"),
])
def test_a_refusal_names_the_items_field(raw: list[dict[str, object]], param: str) -> None:
    with pytest.raises(FieldError) as refused:
        check(raw, EXISTING)
    assert refused.value.param == param


def test_the_metrics_named_are_those_read_before_the_check() -> None:
    items = merged_items([{"metric_id": "met_a", **FLAT}, {"id": "price_b", "unit_price": "4"}, {"metric_id": 7}],
                         EXISTING)
    assert metric_ids_named(items) == {"met_a", "met_b"}
