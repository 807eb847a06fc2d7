"""docs/billing.md, "Periods and the subscription lifecycle" end to end: pause, resume, cancel now and trials through
the API and the closer (`meterflow close-periods`, grace 0 for these runs), with the invoices each must produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from meterflow.settings import Settings
from tests.e2e.period_tools import meterflow
from tests.e2e.scenario import created, ingest, listed, the
from tests.support import eventually, unique

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def ts(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def daily(api: httpx.AsyncClient, start: datetime, trial_days: int = 0) -> dict[str, Any]:
    event_name = unique("call")
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"}))
    metric = await created(await api.post("/v1/metrics", json={"name": "calls", "event_name": event_name,
                                                               "aggregation": "count"}))
    plan = await created(await api.post("/v1/plans", json={
        "name": "daily", "currency": "USD", "billing_period": "daily", "trial_period_days": trial_days,
        "prices": [{"metric_id": metric["id"], "model": "per_unit", "unit_price": "1.00"}]}))
    subscription = await created(await api.post("/v1/subscriptions", json={
        "customer_id": customer["id"], "plan_id": plan["id"], "start_date": ts(start)}))
    return {"event_name": event_name, "customer": customer["id"], "metric": metric["id"],
            "subscription": subscription}


async def send(api: httpx.AsyncClient, books: dict[str, Any], at: datetime, n: int) -> None:
    await ingest(api, [{"event_name": books["event_name"], "customer_id": books["customer"],
                        "idempotency_key": unique("k"), "timestamp": ts(at)} for _ in range(n)])


async def counted(api: httpx.AsyncClient, books: dict[str, Any], start: datetime, n: int) -> None:
    params = {"customer_id": books["customer"], "metric_id": books["metric"], "from": ts(start),
              "to": ts(start + 4 * DAY)}
    await eventually(lambda: api.get("/v1/usage", params=params),
                     lambda r: r.status_code == 200 and r.json()["rollups"][0]["value_exact"] == str(n))


def close(settings: Settings, books: dict[str, Any]) -> None:
    run = meterflow(settings, "close-periods", "--subscription", books["subscription"]["id"], close_grace_s=0)
    assert run.returncode == 0, run.stderr


async def invoices(api: httpx.AsyncClient, books: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    found = listed(await api.get("/v1/invoices", params={"subscription_id": books["subscription"]["id"]}),
                   "invoices")
    return sorted((i["period_start"], i["period_end"], i["status"], i["total"]) for i in found)


async def _now() -> datetime:
    return datetime.now(UTC)


def start_of_history() -> datetime:
    """Two whole days and five hours ago, on the hour: the current daily period began five hours ago."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 2 * DAY - 5 * HOUR


async def test_pause_invoices_the_cut_period_resume_starts_anew_cancel_now_stops(
        api: httpx.AsyncClient, settings: Settings) -> None:
    start = start_of_history()
    books = await daily(api, start)
    await send(api, books, start + HOUR, 1)
    await send(api, books, start + DAY + HOUR, 2)
    await send(api, books, start + 2 * DAY + HOUR, 3)  # in the period the pause cuts
    await counted(api, books, start, 6)
    sub_id = books["subscription"]["id"]

    paused = the(await api.patch(f"/v1/subscriptions/{sub_id}", json={"status": "paused"}), "subscription")
    # The periods before it are not closed yet: the next to invoice is still the first one.
    assert paused["status"] == "paused" and paused["current_period_start"] == ts(start)
    # The period containing the pause ends at the pause's whole second.
    cut = ts(datetime.fromisoformat(paused["updated_at"].replace("Z", "+00:00")).replace(microsecond=0))
    close(settings, books)
    assert await invoices(api, books) == [
        (ts(start), ts(start + DAY), "finalized", "1.00"), (ts(start + DAY), ts(start + 2 * DAY), "finalized", "2.00"),
        (ts(start + 2 * DAY), cut, "finalized", "3.00")]

    resumed = the(await api.patch(f"/v1/subscriptions/{sub_id}", json={"status": "active"}), "subscription")
    # A new period from the resume's whole second: the pause's own second when the close above took less
    # than a second (boundaries are whole seconds), never before the cut.
    assert resumed["status"] == "active" and resumed["current_period_start"] >= cut
    # Boundaries are whole seconds: a cancel in the resume's own second would leave an empty period.
    resumed_at = datetime.fromisoformat(resumed["current_period_start"].replace("Z", "+00:00"))
    await eventually(_now, lambda now: now >= resumed_at + timedelta(seconds=1), timeout_s=5)
    canceled = the(await api.patch(f"/v1/subscriptions/{sub_id}", json={"status": "canceled"}), "subscription")
    assert canceled["status"] == "canceled"
    assert canceled["current_period_start"] == resumed["current_period_start"]
    close(settings, books)
    last = (resumed["current_period_start"], canceled["current_period_end"], "finalized", "0.00")
    assert (await invoices(api, books))[-1] == last and len(await invoices(api, books)) == 4
    close(settings, books)
    assert len(await invoices(api, books)) == 4  # stopped: nothing more, ever


async def test_a_trial_is_never_billed_and_the_first_period_starts_at_its_end(
        api: httpx.AsyncClient, settings: Settings) -> None:
    start = start_of_history()
    books = await daily(api, start, trial_days=1)
    assert books["subscription"]["trial_ends_at"] == ts(start + DAY)
    assert books["subscription"]["current_period_start"] == ts(start + DAY)
    await send(api, books, start + HOUR, 5)  # in the trial
    await send(api, books, start + DAY + HOUR, 2)
    await counted(api, books, start, 7)
    close(settings, books)
    assert await invoices(api, books) == [(ts(start + DAY), ts(start + 2 * DAY), "finalized", "2.00")]
