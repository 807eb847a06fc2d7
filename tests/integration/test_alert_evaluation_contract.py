"""Alert evaluation (application/alerts.py) on the in-memory fakes the unit tests use and on the real
Postgres stores, with a balance alert on a real wallet: a threshold fires once however often (or however
concurrently) rounds run, a credit above it re-arms it, the next drop fires it again, and each firing is
one `alert.triggered` event in the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from meterflow.adapters.alert_repository import AlertRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.alerts import AlertRound, evaluate_alerts
from meterflow.application.ports.alerts import AlertUnitOfWork
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SystemClock
from meterflow.domain.alerts import Alert, AlertScope, AlertType, thresholds_of
from meterflow.domain.catalog import Customer
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import Direction
from meterflow.domain.webhooks import EndpointStatus, EventType, WebhookEndpoint
from meterflow.settings import Settings
from tests.fakes.billing import FakeCatalog, FakeDatabase, FakeUsage
from tests.support import unique

NOW = datetime.now(UTC)


@dataclass
class Backend:
    unit_of_work: UnitOfWorkFactory
    alert_unit_of_work: Callable[[], AlertUnitOfWork]  # the same factory, seen through the evaluation's port
    add_alert: Callable[[Alert], Awaitable[None]]
    add_endpoint: Callable[[WebhookEndpoint], Awaitable[None]]
    alert_events: Callable[[str], Awaitable[list[int]]]  # threshold index of each alert.triggered of an alert


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

        yield Backend(db.unit_of_work, db.unit_of_work, add_fake_alert, add_fake_endpoint, fake_events)
        return
    pool = await create_pool(database.database_dsn)

    async def events(alert_id: str) -> list[int]:
        rows = await pool.fetch("SELECT payload FROM webhook_events WHERE type = 'alert.triggered'")
        return _indexes([r["payload"] for r in rows], alert_id)

    endpoints = WebhookEndpointRepository(pool)
    try:
        factory = partial(PostgresUnitOfWork, pool)
        yield Backend(factory, factory, AlertRepository(pool).add_alert, endpoints.add_endpoint,
                      events)
    finally:
        for endpoint in await pool.fetch("SELECT id FROM webhook_endpoints WHERE url LIKE '%contract-alerts%'"):
            await endpoints.delete_endpoint(Mode.TEST, endpoint["id"], NOW)
        await pool.close()


async def evaluate(backend: Backend) -> AlertRound:
    return await evaluate_alerts(backend.alert_unit_of_work, FakeCatalog(), FakeUsage(), SystemClock(),
                                 "org_contract", lambda error: isinstance(error, ConnectionError))


async def test_a_balance_threshold_fires_once_rearms_above_and_fires_again(backend: Backend) -> None:
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, NOW)
    async with backend.unit_of_work() as uow:
        await uow.customers.add_customer(customer)
        await uow.commit()
    wallets = Wallets(backend.unit_of_work, SystemClock(), "org_contract")
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "NGN")
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked("40.00"))
    await backend.add_endpoint(WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.TEST,
                                               "https://contract-alerts.example/", (EventType.ALERT_TRIGGERED.value,),
                                               None, EndpointStatus.ENABLED, "whsec_x", NOW, NOW))
    alert = Alert(new_id(IdKind.ALERT), Mode.TEST, AlertType.WALLET_BALANCE_DROPPED, AlertScope.CUSTOMER,
                  customer.id, None, None, thresholds_of([{"value": "50", "label": "low"}]), False, True, NOW, NOW)
    await backend.add_alert(alert)
    rounds = await asyncio.gather(*(evaluate(backend) for _ in range(4)))  # four closers at once
    mine = [f for r in rounds for f in r.fired if f.alert.id == alert.id]
    assert [(f.state.subject_id, f.state.threshold_index) for f in mine] == [(wallet.id, 0)]
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked("20.00"))  # 60.00: above
    await evaluate(backend)
    await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("15.00"))  # 45.00: dropped again
    again = [f for f in (await evaluate(backend)).fired if f.alert.id == alert.id]
    assert [f.state.observed for f in again] == [45]
    assert await backend.alert_events(alert.id) == [0, 0]
