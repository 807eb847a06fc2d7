"""The events on record through the API and `meterflow explain`: listed, paged, found by key, behind an
invoice and each of its lines, and every line explained by them (a tampered record is a mismatch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from meterflow.adapters.postgres import Pool
from meterflow.settings import Settings
from tests.e2e.period_tools import calls, daily_setup, invoices_of, meterflow, usage_reaches_total
from tests.e2e.scenario import ingest
from tests.support import unique


async def all_pages(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        body = (await api.get(path, params={**params, "limit": 2,
                                             **({"starting_after": events[-1]["idempotency_key"]} if events else {})}
                              )).json()
        assert body["count"] == len(body["events"]) <= 2
        events += body["events"]
        if not body["has_more"]:
            return events


async def test_counted_events_are_listed_found_and_explain_every_invoice_line(
        api: httpx.AsyncClient, settings: Settings, pool: Pool, today: datetime) -> None:
    setup = await daily_setup(api, today)
    day2, day1 = calls(setup, 2, 3), calls(setup, 1, 2)
    day1[0]["properties"] = {"note": "first"}
    await ingest(api, day2 + day1)
    await ingest(api, [{**day1[0], "properties": {"note": "a later duplicate"}}])
    await usage_reaches_total(api, setup, 5)

    listed = await all_pages(api, "/v1/events", customer_id=setup["customer"])
    assert sorted(e["idempotency_key"] for e in listed) == sorted(e["idempotency_key"] for e in day2 + day1)
    assert [(e["timestamp"], e["idempotency_key"]) for e in listed] == sorted(
        ((e["timestamp"], e["idempotency_key"]) for e in listed), reverse=True)
    one = (await api.get(f"/v1/events/{day1[0]['idempotency_key']}")).json()["event"]
    assert one["properties"] == {"note": "first"} and one["customer_id"] == setup["customer"]
    assert set(one) == {"idempotency_key", "event_name", "customer_id", "timestamp", "properties", "received_at"}
    missing = await api.get(f"/v1/events/{unique('nothing')}")
    assert missing.status_code == 404
    assert (await api.get("/v1/events", params={"starting_after": unique("nothing")})).status_code == 404

    closed = meterflow(settings, "close-periods", "--subscription", setup["subscription"])
    assert closed.returncode == 0, closed.stderr
    by_day = {i["total"]: i for i in await invoices_of(api, setup["customer"])}
    two_days_ago = by_day["1.50"]
    behind = await all_pages(api, f"/v1/invoices/{two_days_ago['id']}/events")
    assert sorted(e["idempotency_key"] for e in behind) == sorted(e["idempotency_key"] for e in day2)
    assert await all_pages(api, f"/v1/invoices/{two_days_ago['id']}/events", line=0) == behind
    assert (await api.get(f"/v1/invoices/{two_days_ago['id']}/events", params={"line": 1})).status_code == 400

    explained = meterflow(settings, "explain", two_days_ago["id"], "--mode", "test")
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "invoiced 3 " in explained.stdout and "from 3 events on record 3  ok" in explained.stdout
    await pool.execute("DELETE FROM events_on_record WHERE mode = 'test' AND idempotency_key = $1",
                       day2[0]["idempotency_key"])
    tampered = meterflow(settings, "explain", two_days_ago["id"], "--mode", "test")
    assert tampered.returncode == 1 and "MISMATCH" in tampered.stdout
