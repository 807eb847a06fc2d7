"""Wallet movements as webhooks (application/wallets.py): each credit or debit made is one
`wallet.credited` or `wallet.debited` in the outbox, in the movement's own transaction, carrying what the
credit or debit call answers; a repeat under the same idempotency key and a refused debit report
nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SteppedClock
from meterflow.domain.catalog import Customer
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import Direction, InsufficientBalance
from meterflow.domain.webhooks import EndpointStatus, EventType, WebhookEndpoint
from tests.fakes.billing import FakeDatabase

AT = datetime(2026, 3, 1, tzinfo=UTC)


async def test_each_movement_made_is_one_event_and_a_repeat_or_a_refusal_none() -> None:
    db = FakeDatabase()
    db.tables.customers["cus_1"] = Customer("cus_1", Mode.TEST, "ext", "n", None, {}, AT)
    db.tables.webhook_endpoints["whe_1"] = WebhookEndpoint(
        "whe_1", Mode.TEST, "https://hooks.example/", ("*",), None, EndpointStatus.ENABLED, "whsec_x", AT, AT)
    wallets = Wallets(db.unit_of_work, SteppedClock(AT), "org_1")
    wallet, _ = await wallets.get_or_create(Mode.TEST, "cus_1", "NGN")
    credit = MovementAsked("100.00", idempotency_key="topup-1")
    _, entries = await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, credit)
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, credit)
    await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("30.00"))
    with pytest.raises(InsufficientBalance):
        await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("70.01"))
    events = sorted(db.tables.webhook_events.values(),
                    key=lambda e: Decimal(e.payload["data"]["transaction"]["wallet"]["balance"]), reverse=True)
    assert [e.type for e in events] == [EventType.WALLET_CREDITED, EventType.WALLET_DEBITED]
    shown = events[0].payload["data"]["transaction"]
    assert shown["wallet"]["balance"] == "100.00"
    assert [e["id"] for e in shown["ledger_entries"]] == [e.id for e in entries]
