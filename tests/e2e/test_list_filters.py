"""Every filter a list names in the API contract narrows it, and is in the OpenAPI schema.

A filter that is silently ignored is worse than none: `GET /v1/customers?external_id=X` used to answer
every customer, newest first, so a client taking the first result attributed usage to someone else.
Subscriptions' and invoices' filters are driven the way Monigo's clients send them in
test_monigo_conformance.py; the usage window and `line` of an invoice's events in their own tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.scenario import billing_setup, created, event, ingest, listed
from tests.support import eventually, unique

# The contract's list calls and the filters each names (paging, `limit` and `starting_after`, on every list).
CONTRACT_FILTERS = {
    "/v1/customers": {"external_id"},
    "/v1/metrics": set(),
    "/v1/plans": set(),
    "/v1/subscriptions": {"customer_id", "plan_id", "status"},
    "/v1/events": {"customer_id", "event_name", "idempotency_key", "from", "to"},
    "/v1/usage": {"customer_id", "metric_id", "from", "to"},
    "/v1/invoices": {"customer_id", "subscription_id", "status"},
    "/v1/invoices/{invoice_id}/events": {"line"},
    "/v1/webhook_endpoints": set(),
    "/v1/webhook_endpoints/{endpoint_id}/deliveries": set(),
}
PAGING = {"limit", "starting_after"}


async def test_every_contract_filter_is_a_query_parameter_of_its_list_in_the_schema(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path, filters in CONTRACT_FILTERS.items():
        declared = {p["name"] for p in paths[path]["get"].get("parameters", []) if p["in"] == "query"}
        assert declared == filters | PAGING, (path, declared)


async def test_customers_filter_by_external_id_and_an_unknown_one_lists_none(api: httpx.AsyncClient) -> None:
    wanted, other = unique("ext"), unique("ext")
    made = await created(await api.post("/v1/customers", json={"external_id": wanted, "name": "Wanted"}))
    await created(await api.post("/v1/customers", json={"external_id": other, "name": "Newer"}))
    found = listed(await api.get("/v1/customers", params={"external_id": wanted}), "customers")
    assert [c["id"] for c in found] == [made["id"]]
    assert listed(await api.get("/v1/customers", params={"external_id": unique("nobody")}), "customers") == []
    assert (await api.delete(f"/v1/customers/{made['id']}")).status_code == 200
    assert listed(await api.get("/v1/customers", params={"external_id": wanted}), "customers") == []


def _at(hours_ago: int) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    return moment.isoformat().replace("+00:00", "Z")


async def _events(api: httpx.AsyncClient, **params: Any) -> list[str]:
    return [e["idempotency_key"] for e in listed(await api.get("/v1/events", params={"limit": 100, **params}),
                                                  "events")]


async def test_events_on_record_filter_by_customer_event_name_key_and_window(api: httpx.AsyncClient) -> None:
    mine, theirs = await billing_setup(api), await billing_setup(api)
    old, middle, recent = (event(mine, timestamp=_at(h)) for h in (5, 3, 1))
    other = event(theirs, timestamp=_at(3))
    await ingest(api, [old, middle, recent, other])
    await eventually(lambda: _events(api, customer_id=mine.customer_id), lambda keys: len(keys) == 3)

    keys = [recent["idempotency_key"], middle["idempotency_key"], old["idempotency_key"]]  # newest first
    assert await _events(api, customer_id=mine.customer_id) == keys
    assert await _events(api, event_name=mine.event_name) == keys
    assert await _events(api, event_name=theirs.event_name) == [other["idempotency_key"]]
    assert await _events(api, idempotency_key=middle["idempotency_key"]) == [middle["idempotency_key"]]
    window = {"from": _at(4), "to": _at(2)}
    assert await _events(api, customer_id=mine.customer_id, **window) == [middle["idempotency_key"]]
    assert await _events(api, event_name=mine.event_name, **{"from": _at(2)}) == [recent["idempotency_key"]]
    assert await _events(api, event_name=mine.event_name, to=_at(4)) == [old["idempotency_key"]]


async def test_usage_filters_by_metric_among_the_customer_s_priced_metrics(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    second = await created(await api.post("/v1/metrics", json={
        "name": "Storage", "event_name": unique("stored"), "aggregation": "count"}))
    await api.put(f"/v1/plans/{setup.plan_id}", json={"prices": [
        {"metric_id": second["id"], "model": "flat", "unit_price": "1"}]})
    both = listed(await api.get("/v1/usage", params={"customer_id": setup.customer_id}), "rollups")
    assert {r["metric_id"] for r in both} == {setup.metric_id, second["id"]}
    one = listed(await api.get("/v1/usage", params={"customer_id": setup.customer_id, "metric_id": second["id"]}),
                 "rollups")
    assert [r["metric_id"] for r in one] == [second["id"]]


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/events", "/v1/invoices", "/v1/subscriptions"])
async def test_a_filter_value_outside_its_domain_is_a_400_naming_it(api: httpx.AsyncClient, path: str) -> None:
    name = {"/v1/customers": "external_id", "/v1/events": "customer_id"}.get(path, "status")
    answer = await api.get(path, params={name: "x" * 1_001 if name != "status" else "nope"})
    assert answer.status_code == 400 and answer.json()["param"] == name, answer.text


async def test_usage_across_customers_pages_whole_customers_in_order_of_id(api: httpx.AsyncClient) -> None:
    ours = {(await billing_setup(api)).customer_id for _ in range(3)}
    seen: list[str] = []
    after: str | None = None
    for _ in range(1_000):  # a bound on the walk: far more pages than customers this session makes
        page = await api.get("/v1/usage", params={"limit": 7, **({"starting_after": after} if after else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        customers = list(dict.fromkeys(r["customer_id"] for r in body["rollups"]))
        assert body["count"] == len(body["rollups"]) <= 7 or len(customers) == 1
        assert customers == sorted(customers) and (not seen or customers[0] > seen[-1]), "in order, disjoint"
        seen += customers
        if not body["has_more"]:
            break
        after = body["rollups"][-1]["customer_id"] if body["rollups"] else after
    else:
        pytest.fail("the pages never ended")
    assert ours <= set(seen) and len(seen) == len(set(seen))


async def test_usage_refuses_a_customer_cursor_with_a_customer_and_a_limit_out_of_range(
        api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    both = await api.get("/v1/usage", params={"customer_id": setup.customer_id, "starting_after": setup.customer_id})
    assert both.status_code == 400 and both.json()["param"] == "starting_after"
    for limit in (0, 1_001):
        refused = await api.get("/v1/usage", params={"limit": limit})
        assert refused.status_code == 400 and refused.json()["param"] == "limit"
