"""Console pages with their own sources and actions: the dead letters of the console's mode read back from
their topic, a replay started from its form (a refused window re-renders the form with the reason), and a
failed webhook delivery shown and retried, a wallet's ledger and past periods on a customer's page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from meterflow.adapters.kafka import start_producer
from meterflow.adapters.postgres import Pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.webhook_delivery_repository import WebhookDeliveryRepository
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.webhook_outbox import record_webhooks
from meterflow.domain.catalog import Customer
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import (
    Attempt,
    AttemptOutcome,
    DeliveryStatus,
    EndpointStatus,
    EventType,
    WebhookEndpoint,
)
from meterflow.settings import Settings
from services.wiring import kafka_setup
from tests.e2e.console_client import signed_in
from tests.e2e.period_tools import calls, daily_setup, meterflow, usage_reaches_total
from tests.e2e.scenario import billing_setup, ingest, the
from tests.e2e.test_wallets import go_body, new_wallet
from tests.support import ServiceProcess, eventually, unique


@pytest.fixture
async def console(settings: Settings, gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=30) as client:
        yield client


async def test_a_poison_record_shows_on_the_dead_letters_page_of_its_mode_only(
        console: httpx.AsyncClient, api: httpx.AsyncClient, settings: Settings, test_key: str,
        live_key: str) -> None:
    marker = unique("poison")
    producer = await start_producer(kafka_setup(settings))
    try:
        await producer.send_and_wait(settings.events_topic_test, f"not json {marker}".encode(), key=marker.encode())
    finally:
        await producer.stop()
    await signed_in(console, test_key)
    # The processor's own pace (its group join on a fresh stack, a loaded box) sets the wait: a wide deadline.
    page = await eventually(lambda: console.get("/console/dead_letters"), lambda r: marker in r.text, timeout_s=90,
                            interval_s=0.5)
    assert page.status_code == 200 and "not_json" in page.text
    assert "Dead letters per hour of receipt, last 24 h" in page.text

    console.cookies.clear()
    await signed_in(console, live_key)
    assert marker not in (await console.get("/console/dead_letters")).text


async def test_a_replay_is_started_from_its_form_and_a_refused_window_says_why(
        console: httpx.AsyncClient, api: httpx.AsyncClient, test_key: str) -> None:
    token = await signed_in(console, test_key)
    refused = await console.post("/console/replays", data={"csrf_token": token, "from": "2026-12-05T10:00:00Z",
                                                           "to": "2026-12-05T09:00:00Z"})
    assert refused.status_code == 400 and "to: must be after from" in refused.text
    assert 'value="2026-12-05T10:00:00Z"' in refused.text  # what was typed is kept
    name = unique("replayed")
    started = await console.post("/console/replays", data={"csrf_token": token, "from": "2026-12-05T09:00:00Z",
                                                           "to": "2026-12-05T10:00:00Z", "event_name": name})
    assert started.status_code == 303
    listed = await console.get(started.headers["location"])
    assert "started." in listed.text and name in listed.text


async def _failed_delivery(pool: Pool, org_id: str) -> tuple[str, str]:
    """A test-mode endpoint with one delivery whose attempt failed (500), written as the outbox and the
    delivery worker write them; other deliveries claimed on the way are released untouched."""
    now = datetime.now(UTC)
    hook = WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.TEST, f"https://{unique('hook')}.invalid/in",
                           (EventType.CUSTOMER_CREATED,), "console test", EndpointStatus.ENABLED, "whsec_x", now, now)
    await WebhookEndpointRepository(pool).add_endpoint(hook)
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "hooked", None, {}, now)
    async with PostgresUnitOfWork(pool) as unit:
        [recorded] = await record_webhooks(unit.webhooks, org_id, [(EventType.CUSTOMER_CREATED, customer)], now)
        await unit.commit()
    deliveries, token = WebhookDeliveryRepository(pool), unique("claim")
    due = await deliveries.claim(now, 10_000, now + timedelta(minutes=1), token)
    mine = [d for d in due if d.endpoint_id == hook.id and d.event_id == recorded.id]
    assert len(mine) == 1, "the delivery was not due"
    await deliveries.record([AttemptOutcome(mine[0].id, token, Attempt(1, now, 5, 500, None), DeliveryStatus.FAILED,
                                            None)], now)
    await deliveries.release([d.id for d in due if d not in mine], token)
    return hook.id, mine[0].id


async def test_a_failed_delivery_shows_on_the_webhook_pages_and_is_retried_with_the_sessions_token(
        console: httpx.AsyncClient, api: httpx.AsyncClient, pool: Pool, settings: Settings, test_key: str) -> None:
    endpoint_id, delivery_id = await _failed_delivery(pool, settings.org_id)
    token = await signed_in(console, test_key)
    assert f'href="/console/webhooks/{endpoint_id}"' in (await console.get("/console")).text  # failing endpoint
    listed = await console.get("/console/webhooks")
    assert endpoint_id in listed.text
    page = await console.get(f"/console/webhooks/{endpoint_id}")
    assert delivery_id in page.text and "status-failed" in page.text

    retry = f"/console/webhook_deliveries/{delivery_id}/retry"
    assert (await console.post(retry, data={})).status_code == 403
    unchanged = await WebhookDeliveryRepository(pool).delivery(Mode.TEST, delivery_id)
    assert unchanged is not None and unchanged.status is DeliveryStatus.FAILED
    done = await console.post(retry, data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == f"/console/webhooks/{endpoint_id}?done=retry"
    retried = await WebhookDeliveryRepository(pool).delivery(Mode.TEST, delivery_id)
    assert retried is not None and retried.status is DeliveryStatus.PENDING
    assert (await api.delete(f"/v1/webhook_endpoints/{endpoint_id}")).status_code == 200


async def test_a_customers_page_shows_their_wallet_and_its_ledger_entries(
        console: httpx.AsyncClient, api: httpx.AsyncClient, test_key: str) -> None:
    wallet = await new_wallet(api)
    moved = await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("250.50", unique("topup")))
    assert moved.is_success, moved.text
    await signed_in(console, test_key)
    page = await console.get(f"/console/customers/{wallet['customer_id']}")
    assert page.status_code == 200
    assert f"Latest ledger entries of {wallet['id']}" in page.text and "250.5" in page.text


async def test_a_customers_past_periods_are_plotted_as_their_invoices_bill_them(
        console: httpx.AsyncClient, api: httpx.AsyncClient, settings: Settings, test_key: str,
        today: datetime) -> None:
    setup = await daily_setup(api, today, days_ago=2)
    await ingest(api, calls(setup, 2, 3) + calls(setup, 1, 2))
    await usage_reaches_total(api, setup, 5)
    closed = meterflow(settings, "close-periods", "--subscription", setup["subscription"], close_grace_s=0)
    assert closed.returncode == 0, closed.stderr
    await signed_in(console, test_key)
    page = await console.get(f"/console/customers/{setup['customer']}")
    plotted = page.text[page.text.index("<h2>Past periods</h2>"):page.text.index("<h2>Invoices</h2>")]
    assert "calls per past period (as invoiced)" in plotted
    assert re.findall(r'<td class="num">(\d+)</td>', plotted) == ["3", "2"]  # oldest first


async def test_the_reconciliation_shows_the_hours_asked_for_and_refuses_a_bound_off_the_hour(
        console: httpx.AsyncClient, test_key: str) -> None:
    await signed_in(console, test_key)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = {"from": (end - timedelta(hours=3)).isoformat(), "to": end.isoformat()}
    page = await console.get("/console/reconciliation", params=window)
    assert page.status_code == 200 and page.text.count("<tr><td><time") == 3
    assert (await console.get("/console/reconciliation")).text.count("<tr><td><time") == 24
    refused = await console.get("/console/reconciliation", params={**window, "from": "2026-02-25T10:30:00Z"})
    assert refused.status_code == 400 and "from: must be a whole hour" in refused.text


async def test_collecting_an_invoice_goes_through_the_apis_use_case_and_its_refusal_is_shown(
        console: httpx.AsyncClient, api: httpx.AsyncClient, test_key: str) -> None:
    setup = await billing_setup(api)
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    token = await signed_in(console, test_key)
    assert (await console.post(f"/console/invoices/{draft['id']}/finalize", data={"csrf_token": token})
            ).status_code == 303
    page = await console.get(f"/console/invoices/{draft['id']}")
    assert "No collection attempt." in page.text and "Collect payment" in page.text
    by_console = await console.post(f"/console/invoices/{draft['id']}/collect", data={"csrf_token": token})
    by_api = await api.post(f"/v1/invoices/{draft['id']}/initiate-payment")
    assert by_console.status_code == by_api.status_code >= 400  # no payment method: the same refusal
    assert by_api.json()["error"] in by_console.text.replace("&#39;", "'").replace("&quot;", '"')


async def test_void_and_mark_paid_set_the_invoices_status_and_an_unknown_action_changes_nothing(
        console: httpx.AsyncClient, api: httpx.AsyncClient, test_key: str) -> None:
    token = await signed_in(console, test_key)

    async def draft() -> str:  # of a subscription of its own: one draft a period
        setup = await billing_setup(api)
        return str(the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                       "invoice", 201)["id"])

    voided, paid = await draft(), await draft()
    assert (await console.post(f"/console/invoices/{voided}/void", data={"csrf_token": token})).status_code == 303
    assert (await console.post(f"/console/invoices/{paid}/finalize", data={"csrf_token": token})).status_code == 303
    done = await console.post(f"/console/invoices/{paid}/mark_paid", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=mark_paid")
    assert the(await api.get(f"/v1/invoices/{voided}"), "invoice")["status"] == "void"
    assert the(await api.get(f"/v1/invoices/{paid}"), "invoice")["status"] == "paid"
    unknown = await console.post(f"/console/invoices/{voided}/delete", data={"csrf_token": token})
    assert 400 <= unknown.status_code < 500
    assert the(await api.get(f"/v1/invoices/{voided}"), "invoice")["status"] == "void"
