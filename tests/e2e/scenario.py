"""Building a customer → metric → plan → subscription setup through the public API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from tests.support import eventually, unique


@dataclass(frozen=True)
class Setup:
    customer_id: str
    metric_id: str
    plan_id: str
    subscription_id: str
    event_name: str


def the(response: httpx.Response, name: str, status: int = 200) -> dict[str, Any]:
    """The one object of an answer, which comes wrapped under its singular name (`{"customer": {...}}`)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == [name], body
    item: dict[str, Any] = body[name]
    return item


def listed(response: httpx.Response, plural: str) -> list[dict[str, Any]]:
    """The items of a list answer: `{"<plural>": [...], "count": N, "has_more": bool}`."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {plural, "count", "has_more"} and body["count"] == len(body[plural]), body
    items: list[dict[str, Any]] = body[plural]
    return items


async def created(response: httpx.Response) -> dict[str, Any]:
    """A created object (201), unwrapped from its envelope."""
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body) == 1, body
    item: dict[str, Any] = next(iter(body.values()))
    return item


def rollup_of(response: httpx.Response) -> dict[str, Any]:
    """The one rollup of a usage answer; its `value` is a JSON number written with exactly the digits of
    `value_exact` (read here without a float in between)."""
    assert response.status_code == 200, response.text
    body = json.loads(response.text, parse_float=Decimal, parse_int=Decimal)
    assert body["count"] == 1 and body["has_more"] is False, body
    [rollup] = body["rollups"]
    assert isinstance(rollup["value"], Decimal) and str(rollup["value"]) == rollup["value_exact"], response.text
    rollup["event_count"], rollup["unbillable_count"] = int(rollup["event_count"]), int(rollup["unbillable_count"])
    item: dict[str, Any] = rollup
    return item


async def billing_setup(api: httpx.AsyncClient, *, aggregation: str = "count", prop: str | None = None,
                        price: dict[str, Any] | None = None, currency: str = "NGN",
                        start_date: str | None = None) -> Setup:
    event_name = unique("api_call")
    customer = await created(await api.post("/v1/customers", json={
        "external_id": unique("ext"), "name": "Acme", "email": "billing@acme.test"}))
    metric = await created(await api.post("/v1/metrics", json={
        "name": "API calls", "event_name": event_name, "aggregation": aggregation,
        **({"aggregation_property": prop} if prop else {})}))
    plan = await created(await api.post("/v1/plans", json={
        "name": "Pay as you go", "currency": currency, "plan_type": "collection", "billing_period": "monthly",
        "prices": [{"metric_id": metric["id"], **(price or {"model": "flat_unit", "unit_price": "2.000000"})}]}))
    subscription = await created(await api.post("/v1/subscriptions", json={
        "customer_id": customer["id"], "plan_id": plan["id"], **({"start_date": start_date} if start_date else {})}))
    return Setup(customer["id"], metric["id"], plan["id"], subscription["id"], event_name)


def event(setup: Setup, key: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"event_name": setup.event_name, "customer_id": setup.customer_id,
            "idempotency_key": key or unique("req"), **fields}


async def ingest(api: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = await api.post("/v1/ingest", json={"events": events})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def usage_response(api: httpx.AsyncClient, setup: Setup) -> httpx.Response:
    return await api.get("/v1/usage", params={"customer_id": setup.customer_id, "metric_id": setup.metric_id})


async def usage(api: httpx.AsyncClient, setup: Setup) -> dict[str, Any]:
    return rollup_of(await usage_response(api, setup))


async def usage_reaches(api: httpx.AsyncClient, setup: Setup, value: str, timeout_s: float = 30) -> dict[str, Any]:
    return await eventually(lambda: usage(api, setup), lambda u: u["value_exact"] == value, timeout_s)
