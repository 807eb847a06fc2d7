"""Period close through the ops CLI and the closer, against real Postgres, Redis and the processor.

Subscriptions start in the past (daily periods), so their periods are due now without waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from meterflow.adapters.postgres import Pool
from meterflow.settings import Settings
from tests.e2e.period_tools import calls, daily_setup, invoices_of, meterflow, usage_reaches_total
from tests.e2e.scenario import ingest, the


async def test_close_bills_each_past_period_once_and_is_idempotent(api: httpx.AsyncClient, today: datetime,
                                                                   settings: Settings) -> None:
    setup = await daily_setup(api, today)
    await ingest(api, calls(setup, 3, 2) + calls(setup, 2, 4) + calls(setup, 1, 1))
    await usage_reaches_total(api, setup, 7)

    dry = meterflow(settings, "close-periods", "--dry-run", "--subscription", setup["subscription"])
    assert dry.returncode == 0, dry.stderr
    assert "would invoice" in dry.stdout and "1.00 USD" in dry.stdout
    assert await invoices_of(api, setup["customer"]) == []

    first = meterflow(settings, "close-periods", "--subscription", setup["subscription"])
    assert first.returncode == 0, first.stderr
    invoices = await invoices_of(api, setup["customer"])
    assert [(i["status"], i["total"]) for i in invoices] == [("finalized", "1.00"), ("finalized", "2.00"),
                                                             ("finalized", "0.50")]
    assert [i["period_start"] for i in invoices] == [
        (today - timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (3, 2, 1)]
    subscription = the(await api.get(f"/v1/subscriptions/{setup['subscription']}"), "subscription")
    assert subscription["current_period_start"] == today.isoformat().replace("+00:00", "Z")

    again = meterflow(settings, "close-periods", "--subscription", setup["subscription"])
    assert again.returncode == 0
    assert "closed 0 periods" in again.stdout
    assert await invoices_of(api, setup["customer"]) == invoices


async def test_a_future_as_of_is_refused(settings: Settings) -> None:
    result = meterflow(settings, "close-periods", "--as-of", (datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert result.returncode != 0
    assert "future" in result.stderr


@pytest.mark.parametrize("paid", [False, True], ids=["finalized", "paid"])
async def test_late_event_is_kept_reported_and_leaves_the_invoice_alone(api: httpx.AsyncClient, today: datetime,
                                                                       settings: Settings, paid: bool) -> None:
    setup = await daily_setup(api, today, days_ago=2)
    await ingest(api, calls(setup, 2, 2))
    await usage_reaches_total(api, setup, 2)
    assert meterflow(settings, "close-periods", "--subscription", setup["subscription"]).returncode == 0
    for closed in await invoices_of(api, setup["customer"]) if paid else []:
        assert the(await api.post(f"/v1/invoices/{closed['id']}/mark_paid"), "invoice")["status"] == "paid"
    before = await invoices_of(api, setup["customer"])

    late = calls(setup, 2, 1)
    await ingest(api, late)
    await usage_reaches_total(api, setup, 3)  # kept: usage counts it
    assert await invoices_of(api, setup["customer"]) == before  # finalized invoices never change
    listing = meterflow(settings, "late-events", "--limit", "1000")
    assert late[0]["idempotency_key"] in listing.stdout
    assert before[0]["id"] in listing.stdout


async def test_an_event_in_the_start_allowance_of_a_finalized_first_period_is_late(api: httpx.AsyncClient,
                                                                                   today: datetime,
                                                                                   settings: Settings) -> None:
    setup = await daily_setup(api, today, days_ago=2)
    assert meterflow(settings, "close-periods", "--subscription", setup["subscription"]).returncode == 0
    first = (await invoices_of(api, setup["customer"]))[0]
    # Two minutes before the first period: that period would have billed it (the start allowance).
    late = [{**calls(setup, 2, 1)[0], "timestamp": (today - timedelta(days=2, minutes=2)).isoformat()}]
    await ingest(api, late)
    await usage_reaches_total(api, setup, 1)
    listing = meterflow(settings, "late-events", "--limit", "1000")
    assert any(late[0]["idempotency_key"] in line and first["id"] in line for line in listing.stdout.splitlines())


async def test_cancelled_subscription_gets_its_last_invoice_and_stops(api: httpx.AsyncClient, today: datetime,
                                                                      settings: Settings) -> None:
    setup = await daily_setup(api, today, days_ago=1)
    cancelled = the(await api.post(f"/v1/subscriptions/{setup['subscription']}/cancel"), "subscription")
    assert cancelled["cancel_at_period_end"] is True
    assert meterflow(settings, "close-periods", "--subscription", setup["subscription"]).returncode == 0
    assert len(await invoices_of(api, setup["customer"])) == 1
    assert the(await api.get(f"/v1/subscriptions/{setup['subscription']}"), "subscription")["status"] == "canceled"


async def test_voided_period_can_be_invoiced_again(api: httpx.AsyncClient, today: datetime, settings: Settings) -> None:
    setup = await daily_setup(api, today, days_ago=1)
    await ingest(api, calls(setup, 1, 3))
    await usage_reaches_total(api, setup, 3)
    assert meterflow(settings, "close-periods", "--subscription", setup["subscription"]).returncode == 0
    [closed] = await invoices_of(api, setup["customer"])
    refused = meterflow(settings, "reinvoice", closed["id"], "--mode", "test")
    assert refused.returncode != 0 and "only a void invoice" in refused.stderr

    assert the(await api.post(f"/v1/invoices/{closed['id']}/void"), "invoice")["status"] == "void"
    again = meterflow(settings, "reinvoice", closed["id"], "--mode", "test")
    assert again.returncode == 0, again.stderr
    new_id = again.stdout.strip()
    invoices = {i["id"]: i for i in await invoices_of(api, setup["customer"])}
    assert invoices[new_id]["status"] == "finalized"
    assert invoices[new_id]["total"] == "1.50"
    assert invoices[new_id]["period_start"] == closed["period_start"]
    assert meterflow(settings, "reinvoice", closed["id"], "--mode", "test").returncode != 0


async def test_the_database_guards_one_live_invoice_per_period_and_frozen_totals(
        api: httpx.AsyncClient, today: datetime, settings: Settings, pool: Pool) -> None:
    setup = await daily_setup(api, today, days_ago=1)
    assert meterflow(settings, "close-periods", "--subscription", setup["subscription"]).returncode == 0
    [invoice] = await invoices_of(api, setup["customer"])
    with pytest.raises(asyncpg.RaiseError, match="finalized"):
        await pool.execute("UPDATE invoices SET total = total + 1 WHERE id = $1", invoice["id"])
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO invoices (id, mode, customer_id, subscription_id, status, currency, period_start, "
            "period_end, subtotal, total) SELECT 'inv_twin', mode, customer_id, subscription_id, 'draft', currency, "
            "period_start, period_end, 0, 0 FROM invoices WHERE id = $1", invoice["id"])
    assert Decimal(invoice["total"]) == 0


async def test_a_start_whose_first_period_cannot_end_is_a_400_naming_start_date(api: httpx.AsyncClient,
                                                                                 today: datetime) -> None:
    setup = await daily_setup(api, today)
    plan = the(await api.get(f"/v1/subscriptions/{setup['subscription']}"), "subscription")["plan_id"]
    response = await api.post("/v1/subscriptions", json={"customer_id": setup["customer"], "plan_id": plan,
                                                         "start_date": "9999-12-31T12:00:00Z"})
    assert response.status_code == 400, response.text
    assert response.json()["param"] == "start_date" and "start_date" in response.json()["details"]
