"""Every resource of the API round-tripped through the sync SDK: each call's answer read into its model
exactly (no field unknown to the model), and the API's refusals raised as their typed errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow_client import (
    ConflictError,
    IngestResult,
    InvalidRequestError,
    Meterflow,
    NotFoundError,
    ReconciliationList,
    UnbilledList,
    WebhookDelivery,
)
from tests.e2e.sdk.exact import assert_exact
from tests.support import eventually, unique


def test_customers_create_get_update_delete(client: Meterflow) -> None:
    external_id = unique("ext")
    created = client.customers.create(external_id=external_id, name="Acme", metadata={"tier": "gold"})
    assert client.customers.get(created.id) == created
    updated = client.customers.update(created.id, name="Acme Ltd", phone="+2348012345678")
    assert (updated.name, updated.phone, updated.external_id, updated.metadata) == ("Acme Ltd", "+2348012345678",
                                                                                   external_id, {"tier": "gold"})
    with pytest.raises(ConflictError) as duplicate:
        client.customers.create(external_id=external_id, name="Again")
    assert duplicate.value.param == "external_id" and duplicate.value.status_code == 409
    assert client.customers.delete(created.id).message
    with pytest.raises(NotFoundError) as gone:
        client.customers.get(created.id)
    assert gone.value.type == "not_found_error"
    assert_exact([created, updated])


def test_an_invalid_body_raises_with_every_faulty_field(client: Meterflow) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        client.customers.create(external_id=" ", name="x", email="x" * 400)
    assert {"external_id", "email"} <= set(refused.value.details), refused.value.details
    assert refused.value.request_id


def test_metrics_and_plans_round_trip_with_exact_prices(client: Meterflow) -> None:
    metric = client.metrics.create(name="GB stored", event_name=unique("gb"), aggregation="max",
                                   aggregation_property="gb", description="peak storage")
    assert client.metrics.get(metric.id) == metric
    renamed = client.metrics.update(metric.id, name="GB (peak)")
    assert renamed.name == "GB (peak)" and renamed.aggregation_property == "gb"
    assert metric.id in [m.id for m in client.metrics.list(limit=5)] or client.metrics.get(metric.id)

    plan = client.plans.create(name="Storage", currency="USD", billing_period="monthly", vat_rate=Decimal("7.5"),
                               prices=[{"metric_id": metric.id, "model": "tiered", "tiers": [
                                   {"up_to": Decimal(1000), "unit_price": Decimal("0.01")},
                                   {"up_to": None, "unit_price": Decimal("0.008"), "flat_fee": Decimal(5)}]}])
    [price] = plan.prices
    assert isinstance(price.tiers, list) and price.tiers[1].unit_price == Decimal("0.008")
    assert plan.vat_rate == Decimal("7.5")
    with_flat = client.plans.update(plan.id, prices=[{"metric_id": metric.id, "model": "flat",
                                                      "unit_price": "0.015000"}])
    assert [p.model for p in with_flat.prices] == ["tiered", "flat"]
    assert with_flat.prices[1].unit_price == Decimal("0.015000")
    assert client.plans.get(plan.id) == with_flat
    assert client.plans.delete(plan.id).message
    assert client.metrics.delete(metric.id).message
    assert_exact([metric, renamed, plan, with_flat])


def test_subscriptions_pause_resume_cancel(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Sub")
    metric = client.metrics.create(name="Calls", event_name=unique("call"), aggregation="count")
    plan = client.plans.create(name="Basic", prices=[{"metric_id": metric.id, "model": "flat", "unit_price": "1"}])
    subscription = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    assert [s.id for s in client.subscriptions.list(customer_id=customer.id)] == [subscription.id]
    assert client.subscriptions.update(subscription.id, status="paused").status == "paused"
    assert client.subscriptions.update(subscription.id, status="active").status == "active"
    assert client.subscriptions.delete(subscription.id).message
    assert client.subscriptions.get(subscription.id).status == "canceled"
    assert [s.id for s in client.subscriptions.list(customer_id=customer.id, status="canceled")] == [subscription.id]
    other = client.customers.create(external_id=unique("ext"), name="Other")
    at_end = client.subscriptions.cancel(client.subscriptions.create(customer_id=other.id, plan_id=plan.id).id)
    assert (at_end.status, at_end.cancel_at_period_end) == ("active", True)
    assert_exact([subscription, at_end])


async def test_invoices_events_on_record_and_replay(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Inv")
    metric = client.metrics.create(name="Calls", event_name=unique("call"), aggregation="count")
    plan = client.plans.create(name="Per call", prices=[{"metric_id": metric.id, "model": "flat",
                                                         "unit_price": "2"}])
    subscription = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    sent = client.events.ingest([{"event_name": metric.event_name, "customer_id": customer.id,
                                  "timestamp": datetime.now(UTC)} for _ in range(3)])
    await eventually(lambda: asyncio.to_thread(lambda: client.usage.get(customer_id=customer.id).to_list()),
                     lambda rollups: [r.event_count for r in rollups] == [3])

    on_record = sorted(e.idempotency_key for e in client.events.list(customer_id=customer.id, limit=2))
    assert on_record == sorted(sent.ingested)
    one = client.events.get(sent.ingested[0])
    assert (one.customer_id, one.event_name) == (customer.id, metric.event_name)

    draft = client.invoices.generate(subscription_id=subscription.id)
    assert draft.total == Decimal("6.00")
    assert sorted(e.idempotency_key for e in client.invoices.events(draft.id, line=0, limit=2)) == on_record
    assert client.invoices.void(draft.id).status == "void"
    fresh = client.invoices.generate(subscription_id=subscription.id)
    assert fresh.id != draft.id and client.invoices.regenerate(fresh.id).total == Decimal("6.00")
    finalized = client.invoices.finalize(fresh.id)
    with pytest.raises(ConflictError):
        client.invoices.regenerate(fresh.id)
    paid = client.invoices.mark_paid(fresh.id, provider_invoice_id="rcpt_1")
    assert (paid.status, paid.provider_invoice_id) == ("paid", "rcpt_1") and paid.paid_at is not None
    statuses = {i.id: i.status for i in client.invoices.list(customer_id=customer.id)}
    assert statuses == {draft.id: "void", fresh.id: "paid"}
    assert client.invoices.get(fresh.id) == paid

    now = datetime.now(UTC)
    job = client.events.replay(from_=now - timedelta(hours=1), to=now, event_name=metric.event_name)
    # Run by the closer's replayer, which this test does not start: the job waits, readable by its id.
    done = client.events.get_replay(job.id)
    assert (done.id, done.status, done.event_name) == (job.id, "pending", metric.event_name)
    assert_exact([sent, one, draft, fresh, finalized, paid, job, done])
    assert isinstance(sent, IngestResult)


def test_webhook_endpoints_and_deliveries(client: Meterflow) -> None:
    endpoint = client.webhook_endpoints.create(url="https://hooks.example.test/meterflow",
                                               events=["customer.created"], description="billing")
    assert endpoint.secret and client.webhook_endpoints.get(endpoint.id).secret is None
    client.customers.create(external_id=unique("ext"), name="Hooked")
    [delivery] = list(client.webhook_endpoints.deliveries(endpoint.id))
    assert delivery.type == "customer.created"
    retried = client.webhook_deliveries.retry(delivery.id)
    assert isinstance(retried, WebhookDelivery) and retried.id == delivery.id
    disabled = client.webhook_endpoints.update(endpoint.id, status="disabled", events=["*"])
    assert (disabled.status, disabled.events) == ("disabled", ["*"])
    assert endpoint.id in {e.id for e in client.webhook_endpoints.list()}
    assert client.webhook_endpoints.delete(endpoint.id).message
    with pytest.raises(NotFoundError):
        client.webhook_endpoints.get(endpoint.id)
    assert_exact([endpoint, delivery, retried, disabled])


async def test_usage_no_period_bills_is_listed_as_unbilled(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="No plan")
    metric = client.metrics.create(name="Calls", event_name=unique("call"), aggregation="count")
    since = datetime.now(UTC) - timedelta(minutes=1)
    client.events.ingest([{"event_name": metric.event_name, "customer_id": customer.id} for _ in range(2)])

    def unbilled() -> UnbilledList:
        return client.usage.unbilled(customer_id=customer.id, metric_id=metric.id, from_=since,
                                     to=datetime.now(UTC) + timedelta(minutes=1))

    found = await eventually(lambda: asyncio.to_thread(unbilled), lambda u: sum(s.event_count for s in u.unbilled) == 2)
    [span] = found.unbilled
    assert (span.reason, span.value_exact, span.metric_id) == ("no_subscription", Decimal(2), metric.id)
    assert span.from_ <= span.to
    assert_exact(found)


async def test_reconciliation_accounts_for_the_events_ingested_this_hour(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Counted")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    client.events.ingest([{"event_name": unique("call"), "customer_id": customer.id} for _ in range(3)])

    def this_hour() -> ReconciliationList:
        return client.reconciliation.get(from_=hour, to=hour + timedelta(hours=1))

    found = await eventually(lambda: asyncio.to_thread(this_hour),
                             lambda r: r.count == 1 and r.hours[0].acknowledged >= 3 and r.hours[0].in_flight == 0)
    [row] = found.hours
    assert row.hour == hour
    assert row.acknowledged == row.counted + row.duplicates + row.dead_lettered + row.lost + row.in_flight
    assert_exact(found)
