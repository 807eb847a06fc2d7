"""Balance alerts (application/alerts.py `fire_balance_alerts`, run by every wallet movement) on the
in-memory fakes the unit tests use and on the real Postgres stores, with a real wallet: the debit that
crosses a threshold fires it once however many debits run at once, a credit above it re-arms it, the next
drop fires it again, and each firing is one `alert.triggered` event in the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from meterflow.adapters.alert_repository import AlertRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.unit_of_work import UnitOfWorkFactory
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SystemClock
from meterflow.domain.alerts import Alert, AlertFiring, AlertScope, AlertType, thresholds_of
from meterflow.domain.catalog import Customer
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import Direction
from meterflow.domain.webhooks import EndpointStatus, EventType, WebhookEndpoint
from meterflow.settings import Settings
from tests.fakes.billing import FakeDatabase
from tests.support import unique

NOW = datetime.now(UTC)


@dataclass
class Backend:
    unit_of_work: UnitOfWorkFactory
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

        yield Backend(db.unit_of_work, add_fake_alert, add_fake_endpoint, fake_events)
        return
    pool = await create_pool(database.database_dsn)

    async def events(alert_id: str) -> list[int]:
        rows = await pool.fetch("SELECT payload FROM webhook_events WHERE type = 'alert.triggered'")
        return _indexes([r["payload"] for r in rows], alert_id)

    endpoints = WebhookEndpointRepository(pool)
    try:
        factory = partial(PostgresUnitOfWork, pool)
        yield Backend(factory, AlertRepository(pool).add_alert, endpoints.add_endpoint,
                      events)
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
