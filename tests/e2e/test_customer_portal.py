"""The portal's figures are the invoice's: for a weekly plan (hourly buckets) the plot's table holds the
exact decimal usage of the hour, and the accrued amount is what a draft of the same period bills, to the
last digit, though opening the portal writes no draft."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx

from tests.e2e.scenario import Setup, created, ingest
from tests.support import eventually, unique

UNITS = ["1.25", "2.5", "0.000001"]


async def _weekly_sum_setup(api: httpx.AsyncClient) -> tuple[Setup, str]:
    event_name = unique("gb_stored")
    external_id = unique("ext")
    customer = await created(await api.post("/v1/customers", json={"external_id": external_id, "name": "Weekly"}))
    metric = await created(await api.post("/v1/metrics", json={
        "name": "Storage", "event_name": event_name, "aggregation": "sum", "aggregation_property": "gb"}))
    plan = await created(await api.post("/v1/plans", json={
        "name": "Weekly storage", "currency": "NGN", "plan_type": "collection", "billing_period": "weekly",
        "prices": [{"metric_id": metric["id"], "model": "flat_unit", "unit_price": "3.000000"}]}))
    subscription = await created(await api.post("/v1/subscriptions", json={"customer_id": customer["id"],
                                                                           "plan_id": plan["id"]}))
    return Setup(customer["id"], metric["id"], plan["id"], subscription["id"], event_name), external_id


def _accrued(html: str, subscription_id: str) -> str:
    found = re.search(rf'data-accrued="{subscription_id}">([0-9.]+) NGN<', html)
    assert found, html
    return found.group(1)


async def test_the_portal_shows_the_drafts_figures_in_hourly_buckets(api: httpx.AsyncClient) -> None:
    setup, external_id = await _weekly_sum_setup(api)
    await ingest(api, [{"event_name": setup.event_name, "customer_id": setup.customer_id,
                        "idempotency_key": unique("k"), "properties": {"gb": units}} for units in UNITS])
    total = str(sum(Decimal(u) for u in UNITS))  # 3.750001
    link = await created(await api.post("/v1/portal/tokens", json={"customer_external_id": external_id}))

    page = await eventually(lambda: api.get(link["portal_url"]),
                            lambda r: f'data-billed="{setup.metric_id}">{total}<' in r.text, timeout_s=20)
    assert "Storage per hour" in page.text  # a week is drawn in hours
    assert f'<td class="num">{total}</td>' in page.text  # the hour's exact figure beside the plot
    listed = (await api.get("/v1/invoices", params={"customer_id": setup.customer_id})).json()
    assert listed["invoices"] == []  # opening the portal wrote no draft

    draft = await created(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}))
    assert _accrued(page.text, setup.subscription_id) == draft["total"] == "11.25"  # 3.750001 x 3.00, rounded
