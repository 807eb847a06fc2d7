"""Every price model end to end: plan over HTTP → usage through Kafka → draft invoice with exact strings.

Quantities cross tier boundaries and put amounts exactly halfway between two minor units, so a banker's
rounding (or a float) anywhere between the rollup and the invoice changes a figure below.
Each expected number is worked out in a comment; docs/pricing.md explains the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.scenario import Setup, billing_setup, created, event, ingest, the, usage_reaches
from tests.support import unique

UNITS = "units"  # the numeric property every `sum` metric here reads


async def draft_invoice(api: httpx.AsyncClient, setup: Setup) -> dict[str, Any]:
    response = await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})
    return await created(response)


def figures(line: dict[str, Any]) -> tuple[str, str | None, str]:
    return line["quantity"], line["unit_price"], line["amount"]


async def bill_units(api: httpx.AsyncClient, price: dict[str, Any], currency: str,
                     units: list[str], quantity: str) -> dict[str, Any]:
    """A sum metric priced by `price`; usage sent as decimal strings; the draft once all of it is counted."""
    setup = await billing_setup(api, aggregation="sum", prop=UNITS, price=price, currency=currency)
    await ingest(api, [event(setup, properties={UNITS: value}) for value in units])
    await usage_reaches(api, setup, quantity)
    invoice = await draft_invoice(api, setup)
    assert invoice["currency"] == currency
    assert invoice["subtotal"] == invoice["total"]
    return invoice


@dataclass(frozen=True)
class PlanSetup:
    """One customer subscribed to one plan whose prices each read their own metric (a Setup per price)."""

    setups: list[Setup]
    price_ids: list[str]


async def billing_plan(api: httpx.AsyncClient, currency: str, prices: list[tuple[str, dict[str, Any]]],
                       *, same_event: bool) -> PlanSetup:
    """A metric per (aggregation, price) pair. The first two metrics read the same event name; the rest
    read it too with `same_event`, otherwise each reads an event name of its own."""
    customer = await created(await api.post("/v1/customers", json={
        "external_id": unique("ext"), "name": "Acme", "email": "billing@acme.test"}))
    shared_event = unique("api_call")
    metrics = []
    for index, (aggregation, _) in enumerate(prices):
        event_name = shared_event if same_event or index < 2 else unique("storage")
        metrics.append(await created(await api.post("/v1/metrics", json={
            "name": f"metric {index}", "event_name": event_name, "aggregation": aggregation,
            **({} if aggregation == "count" else {"aggregation_property": UNITS})})))
    plan = await created(await api.post("/v1/plans", json={
        "name": "Several prices", "currency": currency, "plan_type": "collection",
        "billing_period": "monthly",
        "prices": [{"metric_id": m["id"], **price} for m, (_, price) in zip(metrics, prices, strict=True)]}))
    assert [p["metric_id"] for p in plan["prices"]] == [m["id"] for m in metrics]
    subscription = await created(await api.post("/v1/subscriptions", json={
        "customer_id": customer["id"], "plan_id": plan["id"]}))
    setups = [Setup(customer["id"], m["id"], plan["id"], subscription["id"], m["event_name"])
              for m in metrics]
    return PlanSetup(setups, [p["id"] for p in plan["prices"]])


async def test_flat_rounds_half_up_to_whole_yen(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api, price={"model": "flat", "unit_price": "1.500000"}, currency="JPY")
    await ingest(api, [event(setup) for _ in range(3)])
    await usage_reaches(api, setup, "3")

    invoice = await draft_invoice(api, setup)
    [line] = invoice["line_items"]
    assert figures(line) == ("3", "1.500000", "5")  # 3 * 1.5 = 4.5 → 5 JPY (half-even would say 4)
    assert invoice["total"] == "5"


async def test_tiered_prices_each_unit_in_its_tier_plus_each_entered_tiers_flat_fee(
        api: httpx.AsyncClient) -> None:
    price = {"model": "tiered", "tiers": [
        {"up_to": "1000", "unit_price": "0.01"},
        {"up_to": "5000", "unit_price": "0.008", "flat_fee": "5"},
        {"up_to": None, "unit_price": "0.005", "flat_fee": "10"},
    ]}
    invoice = await bill_units(api, price, "USD", ["2500.5", "3500.5"], "6001.0")

    # 1000 * 0.01 + (4000 * 0.008 + 5) + (1001 * 0.005 + 10) = 10 + 37 + 15.005 = 62.005 → 62.01;
    # shown unit price = 62.005 ÷ 6001 = 0.0103316… → 0.010332.
    [line] = invoice["line_items"]
    assert figures(line) == ("6001.0", "0.010332", "62.01")
    assert invoice["total"] == "62.01"


async def test_volume_prices_all_units_at_the_tier_that_holds_the_quantity(api: httpx.AsyncClient) -> None:
    price = {"model": "volume", "tiers": [
        {"up_to": "100", "unit_price": "0.05"},
        {"up_to": "1000", "unit_price": "0.0425", "flat_fee": "1.5"},
        {"up_to": None, "unit_price": "0.03"},
    ]}
    invoice = await bill_units(api, price, "KWD", ["100.2", "50.4"], "150.6")

    # 150.6 is in the second tier: 150.6 * 0.0425 + 1.5 = 7.9005 → 7.901 KWD (3 places);
    # shown unit price = 7.9005 ÷ 150.6 = 0.0524601… → 0.052460.
    [line] = invoice["line_items"]
    assert figures(line) == ("150.6", "0.052460", "7.901")
    assert invoice["total"] == "7.901"


async def test_package_charges_a_started_package_in_full(api: httpx.AsyncClient) -> None:
    price = {"model": "package", "package_size": "100", "package_price": "5.00"}
    invoice = await bill_units(api, price, "USD", ["120", "130.5"], "250.5")

    # ceil(250.5 ÷ 100) = 3 packages * 5.00 = 15.00; shown unit price = 5.00 ÷ 100 = 0.050000.
    [line] = invoice["line_items"]
    assert figures(line) == ("250.5", "0.050000", "15.00")
    assert invoice["total"] == "15.00"


async def test_overage_adds_the_base_fee_to_the_units_beyond_the_included_ones(
        api: httpx.AsyncClient) -> None:
    price = {"model": "overage", "included_units": "1000", "unit_price": "0.25", "base_fee": "500"}
    invoice = await bill_units(api, price, "NGN", ["1000", "234.5"], "1234.5")

    # 500 + (1234.5 - 1000) * 0.25 = 558.625 → 558.63; the line shows the price per unit beyond.
    [line] = invoice["line_items"]
    assert figures(line) == ("1234.5", "0.250000", "558.63")
    assert invoice["total"] == "558.63"


async def test_weighted_tiered_bills_one_line_at_the_blended_unit_price(api: httpx.AsyncClient) -> None:
    price = {"model": "weighted_tiered", "tiers": [
        {"up_to": "1", "unit_price": "1"},
        {"up_to": "2", "unit_price": "2"},
        {"up_to": None, "unit_price": "2.5"},
    ]}
    setup = await billing_setup(api, price=price, currency="USD")
    await ingest(api, [event(setup) for _ in range(3)])
    await usage_reaches(api, setup, "3")

    # docs/billing.md, "Prices": graduated 1 + 2 + 2.5 = 5.5; b = 5.5 ÷ 3 → 1.833333; 3 * b = 5.499999 → 5.50.
    invoice = await draft_invoice(api, setup)
    [line] = invoice["line_items"]
    assert figures(line) == ("3", "1.833333", "5.50")
    assert invoice["total"] == "5.50"


async def test_monigo_tiers_objects_for_package_and_overage_are_accepted_and_billed(
        api: httpx.AsyncClient) -> None:
    # Two prices on one metric: each gets its own line over the same quantity.
    plan = await billing_plan(api, "USD", [
        ("sum", {"model": "package", "tiers": {
            "package_size": "100", "package_price": "5.00", "round_up_partial_block": False}}),
        ("sum", {"model": "overage", "tiers": {
            "base_price": "20", "included_units": "200", "overage_price": "0.035"}}),
    ], same_event=True)
    await ingest(api, [event(plan.setups[0], properties={UNITS: value}) for value in ("120", "130.5")])
    await usage_reaches(api, plan.setups[0], "250.5")

    invoice = await draft_invoice(api, plan.setups[0])
    package, overage = invoice["line_items"]
    assert figures(package) == ("250.5", "0.050000", "10.00")  # floor(250.5 ÷ 100) = 2 packages * 5.00
    assert figures(overage) == ("250.5", "0.035000", "21.77")  # 20 + 50.5 * 0.035 = 21.7675 → 21.77
    assert invoice["total"] == "31.77"


async def test_a_plan_with_several_prices_bills_one_line_each_and_sums_the_rounded_lines(
        api: httpx.AsyncClient) -> None:
    # calls (count) and gigabytes (sum) read the same event; storage (max) reads another event name.
    plan = await billing_plan(api, "USD", [
        ("count", {"model": "flat_unit", "unit_price": "0.015"}),
        ("sum", {"model": "tiered", "tiers": [
            {"up_to": "2", "unit_price": "1.00"}, {"up_to": None, "unit_price": "0.51"}]}),
        ("max", {"model": "overage", "included_units": "100", "unit_price": "0.1", "base_fee": "10"}),
    ], same_event=False)
    calls, gigabytes, storage = plan.setups
    await ingest(api, [event(calls, properties={UNITS: value}) for value in ("0.75", "1.25", "2.5")]
                 + [event(storage, properties={UNITS: "150"})])
    await usage_reaches(api, calls, "3")
    await usage_reaches(api, gigabytes, "4.50")
    await usage_reaches(api, storage, "150")

    invoice = await draft_invoice(api, calls)
    lines = invoice["line_items"]
    assert [line["price_id"] for line in lines] == plan.price_ids
    assert [line["metric_id"] for line in lines] == [s.metric_id for s in plan.setups]
    assert figures(lines[0]) == ("3", "0.015000", "0.05")  # 3 * 0.015 = 0.045 → 0.05
    assert figures(lines[1]) == ("4.50", "0.727778", "3.28")  # 2 * 1.00 + 2.5 * 0.51 = 3.275 → 3.28
    assert figures(lines[2]) == ("150", "0.100000", "15.00")  # 10 + 50 * 0.1
    # Σ rounded lines = 18.33; rounding the exact sum 18.32 once would lose the two half cents.
    assert invoice["subtotal"] == "18.33"
    assert invoice["total"] == "18.33"


def _tiers(*up_tos: str | None) -> list[dict[str, Any]]:
    return [{"up_to": up_to, "unit_price": "1"} for up_to in up_tos]


@pytest.mark.parametrize(("price", "param"), [
    ({"model": "tiered", "tiers": _tiers("100", "100", None)}, "prices[0].tiers[1].up_to"),
    ({"model": "volume", "tiers": _tiers("100", None, None)}, "prices[0].tiers[1].up_to"),
    ({"model": "weighted_tiered", "tiers": _tiers("100", "200")}, "prices[0].tiers[1].up_to"),
    ({"model": "tiered", "tiers": [{"up_to": "100", "unit_price": "1"}, {"unit_price": "0.5"}]},
     "prices[0].tiers[1].up_to"),
    ({"model": "tiered", "tiers": []}, "prices[0].tiers"),
    ({"model": "volume", "tiers": [{"up_to": None, "unit_price": "-0.5"}]}, "prices[0].tiers[0].unit_price"),
    ({"model": "flat", "unit_price": "-1"}, "prices[0].unit_price"),
    ({"model": "flat", "unit_price": "0.0000001"}, "prices[0].unit_price"),
    ({"model": "package", "package_size": "0", "package_price": "5"}, "prices[0].package_size"),
    ({"model": "package", "tiers": {"package_size": "-10", "package_price": "5"}}, "prices[0].package_size"),
    ({"model": "package", "tiers": {"package_size": "10", "package_price": "5", "size": "3"}},
     "prices[0].tiers.size"),
    ({"model": "overage", "unit_price": "1"}, "prices[0].included_units"),
    ({"model": "stairstep", "unit_price": "1"}, "prices[0].model"),
    ({"unit_price": "1"}, "prices[0].model"),
])
async def test_an_invalid_price_is_refused_at_plan_creation_naming_the_field(
        api: httpx.AsyncClient, price: dict[str, Any], param: str) -> None:
    setup = await billing_setup(api)
    response = await api.post("/v1/plans", json={
        "name": "Broken", "currency": "USD", "billing_period": "monthly",
        "prices": [{"metric_id": setup.metric_id, **price}]})
    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["error"].startswith(f"{param}: ") and param in error["details"]


async def plan_names(api: httpx.AsyncClient) -> set[str]:
    names: set[str] = set()
    page: dict[str, Any] = {"has_more": True, "plans": []}
    while page["has_more"]:
        after = {"starting_after": page["plans"][-1]["id"]} if page["plans"] else {}
        page = (await api.get("/v1/plans", params={"limit": 100, **after})).json()
        assert page["count"] == len(page["plans"]) <= 100
        names |= {plan["name"] for plan in page["plans"]}
    return names


async def test_the_faulty_price_is_named_by_its_index_and_no_plan_is_created(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    name = unique("second price broken")
    response = await api.post("/v1/plans", json={
        "name": name, "currency": "USD", "billing_period": "monthly",
        "prices": [{"metric_id": setup.metric_id, "model": "flat", "unit_price": "1"},
                   {"metric_id": setup.metric_id, "model": "volume", "tiers": _tiers("10", "5", None)}]})
    assert response.status_code == 400
    assert response.json()["param"] == "prices[1].tiers[1].up_to"
    assert "prices[1].tiers[1].up_to" in response.json()["details"]
    assert name not in await plan_names(api)


@pytest.mark.parametrize("currency", ["ABC", "XYZ"])
async def test_an_unknown_currency_is_refused(api: httpx.AsyncClient, currency: str) -> None:
    setup = await billing_setup(api)
    response = await api.post("/v1/plans", json={
        "name": "Unknown money", "currency": currency, "billing_period": "monthly",
        "prices": [{"metric_id": setup.metric_id, "model": "flat", "unit_price": "1"}]})
    assert response.status_code == 400
    assert response.json()["param"] == "currency" and "currency" in response.json()["details"]


@pytest.mark.parametrize("tiers", [
    {"package_size": "100", "package_price": "5.00", "round_up_partial_block": False},
    {"package_size": "100", "package_price": "5.00"},
])
async def test_monigo_package_tiers_object_is_accepted_and_returned_as_sent(
        api: httpx.AsyncClient, tiers: dict[str, Any]) -> None:
    setup = await billing_setup(api, price={"model": "package", "tiers": tiers}, currency="USD")
    [price] = the(await api.get(f"/v1/plans/{setup.plan_id}"), "plan")["prices"]
    assert (price["model"], price["tiers"], price["metric_id"]) == ("package", tiers, setup.metric_id)
    assert price["id"].startswith("price_")


async def test_monigo_overage_tiers_object_is_accepted_and_returned_as_sent(api: httpx.AsyncClient) -> None:
    tiers = {"base_price": "20", "included_units": "200", "overage_price": "0.035"}
    setup = await billing_setup(api, price={"model": "overage", "tiers": tiers}, currency="USD")
    [price] = the(await api.get(f"/v1/plans/{setup.plan_id}"), "plan")["prices"]
    assert (price["model"], price["tiers"], price["metric_id"]) == ("overage", tiers, setup.metric_id)


async def test_monigo_price_shapes_are_billed_and_echoed_as_sent(api: httpx.AsyncClient) -> None:
    """What Monigo's clients send (docs/monigo.md): `per_unit`, tiers with `unit_amount` and integer
    `up_to` (the last one null), a package `tiers` object; each echoed with its integers as integers."""
    tiered = {"model": "tiered", "tiers": [{"up_to": 2, "unit_amount": "1.000000"},
                                           {"up_to": None, "unit_amount": "0.500000"}]}
    package = {"model": "package", "tiers": {"package_size": 2, "package_price": "3.000000",
                                             "round_up_partial_block": True}}
    plan = await billing_plan(api, "NGN", [("count", {"model": "per_unit", "unit_price": "2.000000"}),
                                           ("count", tiered), ("count", package)], same_event=True)
    echoed = the(await api.get(f"/v1/plans/{plan.setups[0].plan_id}"), "plan")["prices"]
    assert [{k: p[k] for k in ("model", "unit_price", "tiers") if k in p} for p in echoed] == [
        {"model": "per_unit", "unit_price": "2.000000"}, tiered, package]
    await ingest(api, [event(plan.setups[0]) for _ in range(5)])
    await usage_reaches(api, plan.setups[0], "5")

    lines = (await draft_invoice(api, plan.setups[0]))["line_items"]
    assert figures(lines[0]) == ("5", "2.000000", "10.00")
    assert figures(lines[1])[2] == "3.50"  # 2 * 1 + 3 * 0.5
    assert figures(lines[2])[2] == "9.00"  # ceil(5 / 2) = 3 packages, the partial one rounded up


async def test_a_tier_priced_twice_is_refused_naming_it(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    response = await api.post("/v1/plans", json={"name": "Twice", "prices": [{
        "metric_id": setup.metric_id, "model": "tiered",
        "tiers": [{"up_to": None, "unit_amount": "1", "unit_price": "1"}]}]})
    assert response.status_code == 400, response.text
    assert list(response.json()["details"]) == ["prices[0].tiers[0]"]
