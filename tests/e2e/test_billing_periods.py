"""Billing periods and unbilled usage over HTTP on the real stack: whole-second periods, the start allowance (Monigo's
quickstart bills all its events), a plan change that bills each event once, pause and resume at any time
with one invoice per ended period, unbilled usage with its reason, ids that tell the CLI their mode, and
paths with a trailing slash that keep their Idempotency-Key."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from meterflow.settings import Settings
from tests.e2e.period_tools import meterflow
from tests.e2e.scenario import Setup, billing_setup, created, ingest, listed, the
from tests.support import eventually, unique

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def ts(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stamped(setup: Setup, at: datetime) -> dict[str, Any]:
    return {"event_name": setup.event_name, "customer_id": setup.customer_id, "idempotency_key": unique("k"),
            "timestamp": ts(at)}


async def counted(api: httpx.AsyncClient, setup: Setup, around: datetime, n: int) -> None:
    """Wait until the processor has counted `n` events of the setup's metric within two hours of `around`."""
    params = {"customer_id": setup.customer_id, "metric_id": setup.metric_id, "from": ts(around - 2 * HOUR),
              "to": ts(around + 2 * HOUR)}
    await eventually(lambda: api.get("/v1/usage", params=params),
                     lambda r: r.status_code == 200 and r.json()["rollups"][0]["value_exact"] == str(n))


async def draft(api: httpx.AsyncClient, subscription_id: str) -> dict[str, Any]:
    return the(await api.post("/v1/invoices/generate", json={"subscription_id": subscription_id}), "invoice", 201)


async def subscription(api: httpx.AsyncClient, subscription_id: str) -> dict[str, Any]:
    return the(await api.get(f"/v1/subscriptions/{subscription_id}"), "subscription")


async def test_the_monigo_quickstart_sequence_bills_all_ten_events(api: httpx.AsyncClient,
                                                                     settings: Settings) -> None:
    setup = await billing_setup(api)  # created now; then 10 events stamped now - 0…9 s
    now = datetime.now(UTC)
    events = [stamped(setup, (now - n * SECOND).replace(microsecond=0 if n % 2 else now.microsecond))
              for n in range(10)]
    await ingest(api, events)
    await counted(api, setup, now, 10)
    start = (await subscription(api, setup.subscription_id))["current_period_start"]
    assert parse(start).microsecond == 0

    invoice = await draft(api, setup.subscription_id)
    [line] = invoice["line_items"]
    assert (line["quantity"], invoice["total"]) == ("10", "20.00")
    behind = (await api.get(f"/v1/invoices/{invoice['id']}/events", params={"limit": 100})).json()["events"]
    assert sorted(e["idempotency_key"] for e in behind) == sorted(e["idempotency_key"] for e in events)

    explained = meterflow(settings, "explain", invoice["id"])  # no --mode: the invoice tells it
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "invoiced 10 " in explained.stdout and "from 10 events on record 10  ok" in explained.stdout
    wrong = meterflow(settings, "explain", invoice["id"], "--mode", "live")  # --mode stays a check
    assert wrong.returncode == 1 and "no such invoice" in wrong.stderr.lower(), wrong.stderr


async def test_the_start_second_bills_and_an_hour_before_the_start_is_unbilled_before_start(
        api: httpx.AsyncClient, settings: Settings) -> None:
    setup = await billing_setup(api)
    start = parse((await subscription(api, setup.subscription_id))["current_period_start"])
    await ingest(api, [stamped(setup, start), stamped(setup, start - HOUR)])
    await counted(api, setup, start, 2)

    invoice = await draft(api, setup.subscription_id)
    assert (invoice["line_items"][0]["quantity"], invoice["total"]) == ("1", "2.00")
    answer = await api.get("/v1/usage/unbilled", params={
        "customer_id": setup.customer_id, "metric_id": setup.metric_id, "from": ts(start - 2 * HOUR),
        "to": ts(start + HOUR)})
    assert answer.status_code == 200, answer.text
    body = json.loads(answer.text, parse_float=Decimal, parse_int=Decimal)
    assert body["count"] == 1
    [row] = body["unbilled"]
    assert (row["reason"], row["value_exact"], row["value"], row["event_count"]) == (
        "before_start", "1", Decimal(1), 1)
    assert parse(row["from"]) <= start - HOUR < parse(row["to"]) <= start
    explained = meterflow(settings, "explain", invoice["id"], "--mode", "test")
    assert f"unbilled  {setup.metric_id}  before_start" in explained.stdout, explained.stdout


async def test_a_plan_change_at_t_bills_each_event_once(api: httpx.AsyncClient, settings: Settings) -> None:
    setup = await billing_setup(api, start_date=ts(datetime.now(UTC) - HOUR))  # the old plan: 2.00 a call
    new_plan = await created(await api.post("/v1/plans", json={
        "name": "Pro", "currency": "NGN", "billing_period": "monthly",
        "prices": [{"metric_id": setup.metric_id, "model": "flat_unit", "unit_price": "3.000000"}]}))
    canceled = the(await api.patch(f"/v1/subscriptions/{setup.subscription_id}", json={"status": "canceled"}),
                   "subscription")
    change = parse(canceled["current_period_end"])  # T, the old one's last instant billed
    new = await created(await api.post("/v1/subscriptions", json={"customer_id": setup.customer_id,
                                                                  "plan_id": new_plan["id"]}))
    new_start = parse(new["current_period_start"])
    assert change <= new_start
    # Just before T: within the new subscription's allowance, but the old one bills it.
    await ingest(api, [stamped(setup, change - SECOND), stamped(setup, change - 2 * SECOND),
                       stamped(setup, new_start), stamped(setup, new_start)])
    await counted(api, setup, change, 4)

    closed = meterflow(settings, "close-periods", "--subscription", setup.subscription_id, close_grace_s=0)
    assert closed.returncode == 0, closed.stderr
    [old_invoice] = listed(await api.get("/v1/invoices", params={"subscription_id": setup.subscription_id}),
                           "invoices")
    assert (old_invoice["line_items"][0]["quantity"], old_invoice["total"]) == ("2", "4.00")
    new_invoice = await draft(api, new["id"])
    assert (new_invoice["line_items"][0]["quantity"], new_invoice["total"]) == ("2", "6.00")


async def test_pause_resume_within_a_second_pause_cancel_then_one_invoice_per_ended_period(
        api: httpx.AsyncClient, settings: Settings) -> None:
    setup = await billing_setup(api, start_date=ts(datetime.now(UTC) - 10 * SECOND))
    sub_id, patch = setup.subscription_id, f"/v1/subscriptions/{setup.subscription_id}"
    start = parse((await subscription(api, sub_id))["current_period_start"])
    await ingest(api, [stamped(setup, start), stamped(setup, start)])
    first_pause = the(await api.patch(patch, json={"status": "paused"}), "subscription")
    resumed = the(await api.patch(patch, json={"status": "active"}), "subscription")  # at once: never a 409
    second_start = parse(resumed["current_period_start"])
    assert resumed["status"] == "active" and second_start >= parse(first_pause["current_period_end"])
    # The second period must hold a whole second: wait until the clock has left the one it starts in.
    await eventually(_now, lambda now: now >= second_start + SECOND, timeout_s=5)
    await ingest(api, [stamped(setup, second_start) for _ in range(3)])
    second_pause = the(await api.patch(patch, json={"status": "paused"}), "subscription")
    paused_at = parse(second_pause["current_period_end"])
    await ingest(api, [stamped(setup, paused_at)])  # while paused: kept, billed by no period
    await eventually(_now, lambda now: now >= paused_at + SECOND, timeout_s=5)
    canceled = the(await api.patch(patch, json={"status": "canceled"}), "subscription")
    assert canceled["status"] == "canceled"
    await counted(api, setup, start, 6)

    for _ in range(2):  # twice: the second run finds nothing left to invoice
        closed = meterflow(settings, "close-periods", "--subscription", sub_id, close_grace_s=0)
        assert closed.returncode == 0, closed.stderr
    found = listed(await api.get("/v1/invoices", params={"subscription_id": sub_id}), "invoices")
    assert sorted((parse(i["period_start"]), parse(i["period_end"]), i["status"], i["total"]) for i in found) == [
        (start, parse(first_pause["current_period_end"]), "finalized", "4.00"),
        (second_start, paused_at, "finalized", "6.00")]
    unbilled = (await api.get("/v1/usage/unbilled", params={
        "customer_id": setup.customer_id, "from": ts(start - HOUR), "to": ts(paused_at + HOUR)})).json()
    assert [(u["metric_id"], u["reason"], u["value_exact"], u["from"]) for u in unbilled["unbilled"]] == [
        (setup.metric_id, "paused", "1", ts(paused_at))]


async def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_trailing_slash_is_served_and_keeps_its_idempotency_key(api: httpx.AsyncClient) -> None:
    headers, body = {"Idempotency-Key": str(uuid.uuid4())}, {"external_id": unique("ext"), "name": "Acme"}
    first = await api.post("/v1/customers/", json=body, headers=headers)
    assert first.status_code == 201, first.text  # served, not a 307 to follow
    again = await api.post("/v1/customers", json=body, headers=headers)
    assert again.status_code == 201 and again.content == first.content, again.text
    assert again.headers["idempotent-replayed"] == "true"
