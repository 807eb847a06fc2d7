"""The quickstart through the Python SDK, sync and async: customer → metric → plan → subscription →
events → usage → draft invoice, with money and usage read as exact Decimals."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from meterflow_client import AsyncMeterflow, Meterflow, Rollup
from tests.e2e.sdk.exact import assert_exact
from tests.support import eventually, unique

TWO = Decimal("2.000000")


async def test_quickstart_with_the_sync_client(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Acme", email="billing@acme.test")
    metric = client.metrics.create(name="API calls", event_name=unique("api_call"), aggregation="count")
    plan = client.plans.create(name="Pay as you go", currency="NGN",
                               prices=[{"metric_id": metric.id, "model": "flat", "unit_price": TWO}])
    subscription = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)

    answer = client.events.ingest([
        {"event_name": metric.event_name, "customer_id": customer.id, "properties": {"endpoint": "/v1/predict"}},
        {"event_name": metric.event_name, "customer_id": customer.id},
    ])
    assert len(answer.ingested) == 2 and answer.duplicates == [] and answer.rejected == []

    def usage() -> Rollup:
        [rollup] = client.usage.get(customer_id=customer.id, metric_id=metric.id).to_list()
        return rollup

    rollup = await eventually(lambda: asyncio.to_thread(usage), lambda r: r.event_count == 2)
    assert rollup.value_exact == Decimal(2) and isinstance(rollup.value, Decimal)

    invoice = client.invoices.generate(subscription_id=subscription.id)
    assert (invoice.status, invoice.currency, invoice.total, invoice.subtotal) == ("draft", "NGN", Decimal("4.00"),
                                                                                  Decimal("4.00"))
    [line] = invoice.line_items
    assert (line.quantity, line.unit_price, line.amount) == (Decimal(2), TWO, Decimal("4.00"))
    assert plan.prices[0].unit_price == TWO
    for obj in (customer, metric, plan, subscription, answer, rollup, invoice):
        assert_exact(obj)


async def test_quickstart_with_the_async_client(async_client: AsyncMeterflow) -> None:
    sdk = async_client
    customer = await sdk.customers.create(external_id=unique("ext"), name="Acme")
    metric = await sdk.metrics.create(name="Tokens", event_name=unique("tokens"), aggregation="sum",
                                      aggregation_property="tokens")
    plan = await sdk.plans.create(name="Per token", currency="USD",
                                  prices=[{"metric_id": metric.id, "model": "flat", "unit_price": "0.015000"}])
    subscription = await sdk.subscriptions.create(customer_id=customer.id, plan_id=plan.id)

    # 0.1 + 0.2 is 0.30000000000000004 in binary floats: sent as Decimals, counted exactly.
    answer = await sdk.events.ingest([
        {"event_name": metric.event_name, "customer_id": customer.id, "properties": {"tokens": Decimal("0.1")}},
        {"event_name": metric.event_name, "customer_id": customer.id, "properties": {"tokens": Decimal("0.2")}},
    ])
    assert len(answer.ingested) == 2

    async def usage() -> Rollup:
        [rollup] = await sdk.usage.get(customer_id=customer.id, metric_id=metric.id).to_list()
        return rollup

    rollup = await eventually(usage, lambda r: r.event_count == 2)
    assert rollup.value_exact == Decimal("0.3") and rollup.value == Decimal("0.3")

    invoice = await sdk.invoices.generate(subscription_id=subscription.id)
    assert invoice.status == "draft" and invoice.currency == "USD"
    # 0.3 * 0.015 = 0.0045 → 0.00 USD (half-up to cents)
    assert invoice.total == Decimal("0.00") and invoice.line_items[0].quantity == Decimal("0.3")
    for obj in (customer, metric, plan, subscription, answer, rollup, invoice):
        assert_exact(obj)
