"""A Monigo client against meterflow: every endpoint of docs/monigo.md, decoded with the keys and JSON
types the client reads (tests/e2e/monigo_wire.py), and the SDK's flows: create → get → list → update →
delete per resource, the pricing models in Monigo's shapes, ingest as the Go client sends it, usage
rollups, generate → finalize → void."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from tests.e2e.monigo_wire import (
    CUSTOMER,
    ERROR,
    INGEST,
    INVOICE,
    METRIC,
    PLAN,
    ROLLUP,
    SUBSCRIPTION,
    check,
    check_list,
)
from tests.e2e.scenario import Setup as ScenarioSetup
from tests.e2e.scenario import usage_reaches
from tests.support import eventually, unique

# What the Go client sends on every request, and on every POST/PUT/PATCH (docs/monigo.md).
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def sdk(method: str) -> dict[str, str]:
    return {**HEADERS, "Idempotency-Key": str(uuid.uuid4())} if method in ("POST", "PUT", "PATCH") else HEADERS


async def call(api: httpx.AsyncClient, method: str, path: str, body: Any = None,
               params: dict[str, str] | None = None) -> httpx.Response:
    return await api.request(method, path, json=body, params=params, headers=sdk(method))


def validation_error(response: httpx.Response, field: str) -> None:
    """Monigo's IsValidationError: 400 and a non-empty `details`."""
    error = check(response, None, ERROR, 400)
    assert field in error["details"], error


async def test_customers_create_get_list_update_delete(api: httpx.AsyncClient) -> None:
    external = unique("ext")
    made = check(await call(api, "POST", "/v1/customers", {"external_id": external, "name": "Acme",
                                                          "email": "a@acme.test", "phone": "+2348012345678",
                                                          "metadata": {"tier": "gold"}}), "customer", CUSTOMER, 201)
    assert (made["external_id"], made["phone"], made["metadata"]) == (external, "+2348012345678", {"tier": "gold"})
    assert check(await call(api, "GET", f"/v1/customers/{made['id']}"), "customer", CUSTOMER) == made
    assert made["id"] in {c["id"] for c in check_list(await call(api, "GET", "/v1/customers"), "customers",
                                                      CUSTOMER)}
    updated = check(await call(api, "PUT", f"/v1/customers/{made['id']}", {"name": "Acme Ltd"}), "customer",
                    CUSTOMER)
    assert (updated["name"], updated["email"], updated["phone"]) == ("Acme Ltd", "a@acme.test", "+2348012345678")
    assert updated["updated_at"] >= made["updated_at"]
    unchanged = check(await call(api, "PUT", f"/v1/customers/{made['id']}", {"email": None, "metadata": None}),
                      "customer", CUSTOMER)  # null is "not given": a field cannot be cleared
    assert (unchanged["email"], unchanged["metadata"]) == ("a@acme.test", {"tier": "gold"})
    validation_error(await call(api, "PUT", f"/v1/customers/{made['id']}", {"phone": "08012345678"}), "phone")

    assert (await call(api, "DELETE", f"/v1/customers/{made['id']}")).status_code == 200
    gone = await call(api, "GET", f"/v1/customers/{made['id']}")
    assert gone.status_code == 404 and check(gone, None, ERROR, 404)["error"]
    rejected = await call(api, "POST", "/v1/ingest", {"events": [{
        "event_name": "e", "customer_id": made["id"], "idempotency_key": unique("k"), "properties": None,
        "timestamp": "0001-01-01T00:00:00Z"}]})
    validation_error(rejected, "events[0].customer_id")
    again = await call(api, "POST", "/v1/customers", {"external_id": external, "name": "Acme again"})
    assert again.status_code == 201, again.text  # a deleted customer's external_id is free again


async def test_metrics_create_get_list_update_delete_and_their_guards(api: httpx.AsyncClient) -> None:
    made = check(await call(api, "POST", "/v1/metrics", {"name": "Tokens", "event_name": unique("tok"),
                                                        "aggregation": "sum", "aggregation_property": "n"}),
                 "metric", METRIC, 201)
    assert check(await call(api, "GET", f"/v1/metrics/{made['id']}"), "metric", METRIC) == made
    assert made["id"] in {m["id"] for m in check_list(await call(api, "GET", "/v1/metrics"), "metrics", METRIC)}
    renamed = check(await call(api, "PUT", f"/v1/metrics/{made['id']}", {"description": "LLM tokens",
                                                                         "event_name": unique("tok2")}),
                    "metric", METRIC)
    assert renamed["description"] == "LLM tokens" and renamed["aggregation"] == "sum"

    plan = check(await call(api, "POST", "/v1/plans", {"name": "uses it", "prices": [
        {"metric_id": made["id"], "model": "flat_unit", "unit_price": "1.000000"}]}), "plan", PLAN, 201)
    validation_error(await call(api, "PUT", f"/v1/metrics/{made['id']}", {"aggregation": "max"}), "aggregation")
    assert (await call(api, "DELETE", f"/v1/metrics/{made['id']}")).status_code == 409
    assert (await call(api, "DELETE", f"/v1/plans/{plan['id']}")).status_code == 200
    assert (await call(api, "DELETE", f"/v1/metrics/{made['id']}")).status_code == 200
    assert (await call(api, "GET", f"/v1/metrics/{made['id']}")).status_code == 404


MONIGO_PRICES: list[dict[str, Any]] = [
    {"model": "flat_unit", "unit_price": "2.000000"},
    {"model": "per_unit", "unit_price": "2.000000"},
    {"model": "tiered", "tiers": [{"up_to": 1000, "unit_amount": "1.000000"},
                                  {"up_to": None, "unit_amount": "0.500000"}]},
    {"model": "package", "tiers": {"package_size": 100, "package_price": "5.000000",
                                   "round_up_partial_block": False}},
    {"model": "overage", "tiers": {"included_units": 0, "base_price": "0.000000", "overage_price": "0.250000"}},
]


async def _metric(api: httpx.AsyncClient, event_name: str | None = None) -> dict[str, Any]:
    response = await call(api, "POST", "/v1/metrics", {"name": "calls", "event_name": event_name or unique("call"),
                                                      "aggregation": "count"})
    made: dict[str, Any] = check(response, "metric", METRIC, 201)
    return made


async def test_plans_with_monigo_defaults_and_prices_update_and_delete(api: httpx.AsyncClient) -> None:
    metrics = [await _metric(api) for _ in MONIGO_PRICES]
    made = check(await call(api, "POST", "/v1/plans", {"name": "Every model", "prices": [
        {"metric_id": m["id"], **price} for m, price in zip(metrics, MONIGO_PRICES, strict=True)]}),
        "plan", PLAN, 201)
    assert (made["currency"], made["plan_type"], made["billing_period"], made["trial_period_days"]) == (
        "NGN", "collection", "monthly", 0)
    assert [{k: p[k] for k in ("model", "unit_price", "tiers") if k in p} for p in made["prices"]] == MONIGO_PRICES
    assert check(await call(api, "GET", f"/v1/plans/{made['id']}"), "plan", PLAN) == made
    assert made["id"] in {p["id"] for p in check_list(await call(api, "GET", "/v1/plans"), "plans", PLAN)}
    bare = check(await call(api, "POST", "/v1/plans", {"name": "no prices"}), "plan", PLAN, 201)
    assert bare["prices"] == []

    first = made["prices"][0]
    updated = check(await call(api, "PUT", f"/v1/plans/{made['id']}", {"name": "Renamed", "prices": [
        {"id": first["id"], "unit_price": "3.000000"},
        {"metric_id": metrics[0]["id"], "model": "per_unit", "unit_price": "0.100000"}]}), "plan", PLAN)
    assert updated["name"] == "Renamed" and len(updated["prices"]) == len(MONIGO_PRICES) + 1
    assert (updated["prices"][0]["id"], updated["prices"][0]["unit_price"]) == (first["id"], "3.000000")
    validation_error(await call(api, "PUT", f"/v1/plans/{made['id']}", {"prices": [{"id": "price_nope"}]}),
                     "prices[0].id")

    customer = check(await call(api, "POST", "/v1/customers", {"external_id": unique("e"), "name": "n"}),
                     "customer", CUSTOMER, 201)
    check(await call(api, "POST", "/v1/subscriptions", {"customer_id": customer["id"], "plan_id": made["id"]}),
          "subscription", SUBSCRIPTION, 201)
    assert (await call(api, "PUT", f"/v1/plans/{made['id']}", {"currency": "USD"})).status_code == 409
    assert (await call(api, "DELETE", f"/v1/plans/{made['id']}")).status_code == 409
    assert (await call(api, "DELETE", f"/v1/plans/{bare['id']}")).status_code == 200


async def _subscribed(api: httpx.AsyncClient, plan_body: dict[str, Any] | None = None) -> dict[str, Any]:
    metric = await _metric(api)
    customer = check(await call(api, "POST", "/v1/customers", {"external_id": unique("e"), "name": "n"}),
                     "customer", CUSTOMER, 201)
    plan = check(await call(api, "POST", "/v1/plans", {"name": "p", **(plan_body or {}), "prices": [
        {"metric_id": metric["id"], "model": "per_unit", "unit_price": "2.000000"}]}), "plan", PLAN, 201)
    subscription = check(await call(api, "POST", "/v1/subscriptions", {
        "customer_id": customer["id"], "plan_id": plan["id"]}), "subscription", SUBSCRIPTION, 201)
    return {"metric": metric, "customer": customer, "plan": plan, "subscription": subscription}


async def test_subscriptions_create_guard_filters_status_changes_and_delete(api: httpx.AsyncClient) -> None:
    books = await _subscribed(api)
    sub, customer, plan = books["subscription"], books["customer"], books["plan"]
    assert sub["status"] == "active" and sub["trial_ends_at"] is None
    twice = await call(api, "POST", "/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]})
    assert twice.status_code == 409 and check(twice, None, ERROR, 409)["error"]  # Monigo's IsConflict

    assert check(await call(api, "GET", f"/v1/subscriptions/{sub['id']}"), "subscription", SUBSCRIPTION) == sub
    for params in ({"customer_id": customer["id"]}, {"plan_id": plan["id"]},
                   {"customer_id": customer["id"], "status": "active"}):
        found = check_list(await call(api, "GET", "/v1/subscriptions", params=params), "subscriptions", SUBSCRIPTION)
        assert [s["id"] for s in found] == [sub["id"]], params
    assert check_list(await call(api, "GET", "/v1/subscriptions", params={
        "customer_id": customer["id"], "status": "paused"}), "subscriptions", SUBSCRIPTION) == []

    paused = check(await call(api, "PATCH", f"/v1/subscriptions/{sub['id']}", {"status": "paused"}),
                   "subscription", SUBSCRIPTION)
    # The period ends at the pause's whole second, compared as instants (a whole second is written
    # without a fraction, so the texts do not sort as the instants do).
    assert paused["status"] == "paused" and _instant(paused["current_period_end"]) <= _instant(paused["updated_at"])
    assert (await call(api, "PATCH", f"/v1/subscriptions/{sub['id']}", {"status": "paused"})).status_code == 409
    validation_error(await call(api, "PATCH", f"/v1/subscriptions/{sub['id']}", {"status": "cancelled"}), "status")
    assert (await call(api, "DELETE", f"/v1/customers/{customer['id']}")).status_code == 409  # paused: billing
    assert (await call(api, "DELETE", f"/v1/subscriptions/{sub['id']}")).status_code == 200
    gone = check(await call(api, "GET", f"/v1/subscriptions/{sub['id']}"), "subscription", SUBSCRIPTION)
    assert gone["status"] == "canceled"
    assert (await call(api, "DELETE", f"/v1/customers/{customer['id']}")).status_code == 200


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_ingest_usage_and_invoice_flow_as_the_sdk_sends_it(api: httpx.AsyncClient) -> None:
    books = await _subscribed(api, {"vat_rate": "7.5"})
    sub, customer, metric = books["subscription"], books["customer"], books["metric"]
    events = [{"event_name": metric["event_name"], "customer_id": customer["id"], "idempotency_key": unique("k"),
               "timestamp": "0001-01-01T00:00:00Z", "properties": None} for _ in range(3)]
    answer = check(await call(api, "POST", "/v1/ingest", {"events": events}), None, INGEST, 202)
    assert answer["ingested"] == [e["idempotency_key"] for e in events] and answer["duplicates"] == []
    setup = ScenarioSetup(customer["id"], metric["id"], books["plan"]["id"], sub["id"], metric["event_name"])
    await usage_reaches(api, setup, "3")
    params = {"customer_id": customer["id"], "metric_id": metric["id"]}
    [rollup] = check_list(await call(api, "GET", "/v1/usage", params=params), "rollups", ROLLUP)
    assert (rollup["value"], rollup["event_count"], rollup["is_test"]) == (3, 3, True)
    # Every filter is optional (docs/monigo.md): the customer's priced metrics, or everyone's.
    [mine] = check_list(await call(api, "GET", "/v1/usage", params={"customer_id": customer["id"]}), "rollups",
                        ROLLUP)
    assert (mine["metric_id"], mine["value"]) == (metric["id"], 3)
    everyone = check_list(await call(api, "GET", "/v1/usage"), "rollups", ROLLUP)
    assert (customer["id"], metric["id"], 3) in {(r["customer_id"], r["metric_id"], r["value"]) for r in everyone}

    draft = check(await call(api, "POST", "/v1/invoices/generate", {"subscription_id": sub["id"]}), "invoice",
                  INVOICE, 201)
    assert (draft["status"], draft["subtotal"], draft["vat_enabled"], draft["vat_rate"]) == (
        "draft", "6.00", True, "7.5")
    assert (draft["vat_amount"], draft["total"]) == ("0.45", "6.45")  # 6.00 * 7.5 % = 0.45
    assert check(await call(api, "GET", f"/v1/invoices/{draft['id']}"), "invoice", INVOICE) == draft
    finalized = check(await api.post(f"/v1/invoices/{draft['id']}/finalize", headers=HEADERS), "invoice", INVOICE)
    assert finalized["status"] == "finalized" and finalized["finalized_at"]
    for params in ({"status": "finalized", "customer_id": customer["id"]}, {"subscription_id": sub["id"]}):
        found = check_list(await call(api, "GET", "/v1/invoices", params=params), "invoices", INVOICE)
        assert [i["id"] for i in found] == [draft["id"]], params
    assert check_list(await call(api, "GET", "/v1/invoices", params={
        "status": "draft", "customer_id": customer["id"]}), "invoices", INVOICE) == []
    voided = check(await api.post(f"/v1/invoices/{draft['id']}/void", headers=HEADERS), "invoice", INVOICE)
    assert voided["status"] == "void"


async def test_mark_paid_from_finalized_only(api: httpx.AsyncClient) -> None:
    books = await _subscribed(api)
    draft = check(await call(api, "POST", "/v1/invoices/generate", {"subscription_id": books["subscription"]["id"]}),
                  "invoice", INVOICE, 201)
    assert (await call(api, "POST", f"/v1/invoices/{draft['id']}/mark_paid")).status_code == 409
    await call(api, "POST", f"/v1/invoices/{draft['id']}/finalize")
    paid = check(await call(api, "POST", f"/v1/invoices/{draft['id']}/mark_paid",
                            {"provider_invoice_id": "pay_123"}), "invoice", INVOICE)
    assert (paid["status"], paid["provider_invoice_id"]) == ("paid", "pay_123") and paid["paid_at"]
    assert (await call(api, "POST", f"/v1/invoices/{draft['id']}/void")).status_code == 409


async def test_every_list_pages_with_limit_and_starting_after(api: httpx.AsyncClient) -> None:
    for _ in range(3):
        await _metric(api)
    first = await call(api, "GET", "/v1/metrics", params={"limit": "2"})
    page = check_list(first, "metrics", METRIC)
    assert len(page) == 2 and first.json()["has_more"] is True
    after = check_list(await call(api, "GET", "/v1/metrics", params={"limit": "2", "starting_after": page[-1]["id"]}),
                       "metrics", METRIC)
    assert not {m["id"] for m in page} & {m["id"] for m in after}
    validation_error(await call(api, "GET", "/v1/metrics", params={"limit": "1001"}), "limit")
    await eventually(lambda: call(api, "GET", "/v1/metrics"), lambda r: r.status_code == 200)
