"""What alert evaluation reads, on the in-memory fakes the unit tests use and on the real Postgres stores.
The stream's read (`watching`): each enabled usage or cost alert with the active subscriptions its scope
(customer, subscription or plan) covers, narrowed to the customers whose usage changed; balance, disabled
and deleted alerts and stopped subscriptions are left out. Rounds at once (two processors) fire a usage
threshold once.

Balance alerts (application/alerts.py `fire_balance_alerts`, run by every wallet movement) on the
in-memory fakes the unit tests use and on the real Postgres stores, with a real wallet: the debit that
crosses a threshold fires it once however many debits run at once, a credit above it re-arms it, the next
drop fires it again, and each firing is one `alert.triggered` event in the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from meterflow.adapters.alert_repository import AlertRepository
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.alerts import evaluate_alerts
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SystemClock
from meterflow.domain.alerts import Alert, AlertFiring, AlertScope, AlertType, thresholds_of
from meterflow.domain.catalog import Customer, Metric, Plan, Subscription, SubscriptionStatus
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, period_at
from meterflow.domain.rollups import Aggregation
from meterflow.domain.wallets import Direction
from meterflow.domain.webhooks import EndpointStatus, EventType, WebhookEndpoint
from meterflow.settings import Settings
from tests.fakes.billing import FakeCatalog, FakeDatabase, FakeUsage
from tests.support import unique

NOW = datetime.now(UTC)


@dataclass
class Backend:
    unit_of_work: UnitOfWorkFactory
    add_alert: Callable[[Alert], Awaitable[None]]
    add_endpoint: Callable[[WebhookEndpoint], Awaitable[None]]
    alert_events: Callable[[str], Awaitable[list[int]]]  # threshold index of each alert.triggered of an alert
    add_plan: Callable[[Plan], Awaitable[None]]


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Settings | None:
    settings: Settings | None = request.getfixturevalue("settings") if request.param == "postgres" else None
    return settings


def _indexes(payloads: list[dict[str, object]], alert_id: str) -> list[int]:
    found = []
    for payload in payloads:
        data: Any = payload["data"]
        alert = data["alert"]
        if alert["id"] == alert_id:
            found.append(alert["states"][0]["threshold_index"])
    return sorted(found)


@pytest.fixture
async def backend(database: Settings | None) -> AsyncIterator[Backend]:
    if database is None:
        db = FakeDatabase()

        async def add_fake_alert(alert: Alert) -> None:
            db.tables.alerts.alerts[alert.id] = alert

        async def add_fake_endpoint(endpoint: WebhookEndpoint) -> None:
            db.tables.webhook_endpoints[endpoint.id] = endpoint

        async def fake_events(alert_id: str) -> list[int]:
            return _indexes([e.payload for e in db.tables.webhook_events.values()], alert_id)

        async def no_plan_table(plan: Plan) -> None:
            return None  # the fake's subscriptions carry their interval themselves

        yield Backend(db.unit_of_work, add_fake_alert, add_fake_endpoint, fake_events, no_plan_table)
        return
    pool = await create_pool(database.database_dsn)

    async def events(alert_id: str) -> list[int]:
        rows = await pool.fetch("SELECT payload FROM webhook_events WHERE type = 'alert.triggered'")
        return _indexes([r["payload"] for r in rows], alert_id)

    endpoints = WebhookEndpointRepository(pool)
    try:
        factory = partial(PostgresUnitOfWork, pool)
        yield Backend(factory, AlertRepository(pool).add_alert, endpoints.add_endpoint, events,
                      CatalogRepository(pool).add_plan)
    finally:
        for endpoint in await pool.fetch("SELECT id FROM webhook_endpoints WHERE url LIKE '%contract-alerts%'"):
            await endpoints.delete_endpoint(Mode.TEST, endpoint["id"], NOW)
        await pool.close()


async def test_a_balance_threshold_fires_once_on_the_crossing_debit_rearms_above_and_fires_again(
        backend: Backend) -> None:
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, NOW)
    async with backend.unit_of_work() as uow:
        await uow.customers.add_customer(customer)
        await uow.commit()
    fired: list[AlertFiring] = []
    wallets = Wallets(backend.unit_of_work, SystemClock(), "org_contract", fired.extend)
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "NGN")
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked("60.00"))
    await backend.add_endpoint(WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.TEST,
                                               "https://contract-alerts.example/", (EventType.ALERT_TRIGGERED.value,),
                                               None, EndpointStatus.ENABLED, "whsec_x", NOW, NOW))
    alert = Alert(new_id(IdKind.ALERT), Mode.TEST, AlertType.WALLET_BALANCE_DROPPED, AlertScope.CUSTOMER,
                  customer.id, None, None, thresholds_of([{"value": "50", "label": "low"}]), False, True, NOW, NOW)
    await backend.add_alert(alert)
    # Four debits at once: 55, 50, 45, 40 in whatever order they queue; the one that reaches 50 fires.
    await asyncio.gather(*(wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("5.00"))
                           for _ in range(4)))
    assert [(f.alert.id, f.state.subject_id, f.state.threshold_index, f.state.observed) for f in fired] == [
        (alert.id, wallet.id, 0, Decimal("50.00"))]
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked("20.00"))  # 60.00: above, re-armed
    await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("15.00"))  # 45.00: dropped again
    assert [f.state.observed for f in fired] == [Decimal("50.00"), Decimal("45.00")]
    assert await backend.alert_events(alert.id) == [0, 0]


def _alert(alert_type: AlertType, scope: AlertScope, scope_id: str, n: int, *, enabled: bool = True) -> Alert:
    return Alert(new_id(IdKind.ALERT), Mode.TEST, alert_type, scope, scope_id, None, None,
                 thresholds_of([{"value": "1", "label": "one"}]), False, enabled, NOW + timedelta(seconds=n),
                 NOW + timedelta(seconds=n))


async def test_the_stream_reads_the_alerts_watching_the_changed_customers_with_their_subscriptions(
        backend: Backend) -> None:
    first, second = (Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, NOW)
                     for _ in range(2))
    plan, other_plan = (Plan(new_id(IdKind.PLAN), Mode.TEST, "p", None, "USD", "collection", BillingInterval.MONTHLY,
                             (), NOW) for _ in range(2))
    for p in (plan, other_plan):
        await backend.add_plan(p)

    def subscribed(customer: Customer, on: Plan,
                   status: SubscriptionStatus = SubscriptionStatus.ACTIVE) -> Subscription:
        return Subscription(new_id(IdKind.SUBSCRIPTION), Mode.TEST, customer.id, on.id, status, NOW,
                            period_at(NOW, BillingInterval.MONTHLY, 0), False, None, NOW, BillingInterval.MONTHLY)

    mine, theirs, stopped = subscribed(first, plan), subscribed(second, plan), subscribed(
        first, other_plan, SubscriptionStatus.CANCELED)
    async with backend.unit_of_work() as uow:
        for customer in (first, second):
            await uow.customers.add_customer(customer)
        for s in (mine, theirs, stopped):
            await uow.subscriptions.add_subscription(s)
        await uow.commit()
    of_customer = _alert(AlertType.USAGE_EXCEEDED, AlertScope.CUSTOMER, first.id, 0)
    of_plan = _alert(AlertType.COST_EXCEEDED, AlertScope.PLAN, plan.id, 1)
    of_subscription = _alert(AlertType.COST_EXCEEDED, AlertScope.SUBSCRIPTION, theirs.id, 2)
    left_out = [_alert(AlertType.WALLET_BALANCE_DROPPED, AlertScope.CUSTOMER, first.id, 3),
                _alert(AlertType.USAGE_EXCEEDED, AlertScope.PLAN, other_plan.id, 4),  # its one subscription stopped
                _alert(AlertType.COST_EXCEEDED, AlertScope.SUBSCRIPTION, mine.id, 5, enabled=False)]
    for alert in (of_customer, of_plan, of_subscription, *left_out):
        await backend.add_alert(alert)
    ours = {a.id for a in (of_customer, of_plan, of_subscription, *left_out)}

    async def watching(customers: set[tuple[Mode, str]] | None) -> dict[str, list[str]]:
        async with backend.unit_of_work() as uow:
            found = await uow.alerts.watching(customers)
        return {a.id: sorted(s.id for s in subscriptions) for a, subscriptions in found if a.id in ours}

    assert await watching({(Mode.TEST, first.id)}) == {of_customer.id: [mine.id], of_plan.id: [mine.id]}
    assert await watching({(Mode.TEST, second.id)}) == {of_plan.id: [theirs.id], of_subscription.id: [theirs.id]}
    assert await watching({(Mode.LIVE, first.id), (Mode.TEST, "cus_nobody")}) == {}
    assert await watching(None) == {of_customer.id: [mine.id], of_plan.id: sorted([mine.id, theirs.id]),
                                    of_subscription.id: [theirs.id]}


async def test_rounds_at_once_fire_a_usage_threshold_once(backend: Backend) -> None:
    """Two processors (or a processor and its successor) evaluating one customer at the same time."""
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, NOW)
    plan = Plan(new_id(IdKind.PLAN), Mode.TEST, "p", None, "USD", "collection", BillingInterval.MONTHLY, (), NOW)
    metric = Metric(new_id(IdKind.METRIC), Mode.TEST, "calls", unique("e"), Aggregation.COUNT, None, None, NOW)
    await backend.add_plan(plan)
    anchor = NOW - timedelta(days=1)
    subscription = Subscription(new_id(IdKind.SUBSCRIPTION), Mode.TEST, customer.id, plan.id,
                                SubscriptionStatus.ACTIVE, anchor, period_at(anchor, BillingInterval.MONTHLY, 0),
                                False, None, anchor, BillingInterval.MONTHLY)
    async with backend.unit_of_work() as uow:
        await uow.customers.add_customer(customer)
        await uow.subscriptions.add_subscription(subscription)
        await uow.commit()
    await backend.add_endpoint(WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.TEST,
                                               "https://contract-alerts.example/", (EventType.ALERT_TRIGGERED.value,),
                                               None, EndpointStatus.ENABLED, "whsec_x", NOW, NOW))
    alert = Alert(new_id(IdKind.ALERT), Mode.TEST, AlertType.USAGE_EXCEEDED, AlertScope.CUSTOMER, customer.id,
                  metric.id, None, thresholds_of([{"value": "3", "label": "three"}]), False, True, NOW, NOW)
    await backend.add_alert(alert)
    usage = FakeUsage()
    for _ in range(3):
        usage.record(metric.id, customer.id, NOW - timedelta(minutes=1))
    rounds = await asyncio.gather(*(evaluate_alerts(backend.unit_of_work, FakeCatalog(metrics={metric.id: metric}),
                                                    usage, SystemClock(), "org_contract",
                                                    lambda error: isinstance(error, ConnectionError),
                                                    {(Mode.TEST, customer.id)}) for _ in range(4)))
    assert [(f.state.subject_id, f.state.observed) for r in rounds for f in r.fired] == [(subscription.id, Decimal(3))]
    assert await backend.alert_events(alert.id) == [0]
