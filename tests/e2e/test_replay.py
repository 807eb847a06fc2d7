"""Replay through the API and the replay use case on real servers: a metric created after 10,000 of its
events counts them once replayed, and a second replay changes nothing; a replay that changes figures
inside a finalized period leaves the invoice as it was and reports the events there as late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
from redis.asyncio import Redis

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.replay_job_repository import ReplayJobRepository
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.replay import Replayer
from meterflow.clock import SystemClock
from meterflow.domain.event_record import EventFilter
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import usage_store
from tests.e2e.scenario import billing_setup, created, ingest, rollup_of
from tests.support import eventually, unique

EVENTS = 10_000
HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def replayer_of(pool: Pool, redis: Redis, settings: Settings) -> Replayer:
    """The closer's replay use case on the test's servers, run in the test's process."""
    return Replayer(ReplayJobRepository(pool), CatalogRepository(pool), EventRecordRepository(pool),
                    usage_store(redis, settings), LateEventRepository(pool), SystemClock(),
                    unit_of_work=partial(PostgresUnitOfWork, pool), org_id=settings.org_id)


async def run_job(pool: Pool, redis: Redis, settings: Settings, api: httpx.AsyncClient,
                  body: dict[str, Any]) -> dict[str, Any]:
    answer = await api.post("/v1/events/replay", json=body)
    assert answer.status_code == 202, answer.text
    job = answer.json()["job"]
    assert job["status"] == "pending" and job["is_test"] is True
    replayer = replayer_of(pool, redis, settings)
    while (await api.get(f"/v1/events/replay/{job['id']}")).json()["job"]["status"] == "pending":
        assert await replayer.run_next() is not None
    done: dict[str, Any] = (await api.get(f"/v1/events/replay/{job['id']}")).json()["job"]
    return done


async def test_a_metric_created_after_its_events_counts_them_once_replayed_and_again_changes_nothing(
        api: httpx.AsyncClient, pool: Pool, redis: Redis, settings: Settings) -> None:
    event_name = unique("late_metric")
    customer = (await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"})))["id"]
    start = HOUR - timedelta(hours=4) + timedelta(minutes=13, seconds=7)
    events = [{"event_name": event_name, "customer_id": customer, "idempotency_key": unique("k"),
               "timestamp": (start + timedelta(seconds=i)).isoformat(), "properties": {"n": f"{i % 10}.5"}}
              for i in range(EVENTS)]
    for i in range(0, EVENTS, 1_000):
        assert (await ingest(api, events[i:i + 1_000]))["rejected"] == []
    record = EventRecordRepository(pool)
    await eventually(lambda: record.count(Mode.TEST, EventFilter(customer_id=customer)), lambda n: n == EVENTS, 120)

    metric = await created(await api.post("/v1/metrics", json={
        "name": "late", "event_name": event_name, "aggregation": "sum", "aggregation_property": "n"}))
    window = {"customer_id": customer, "metric_id": metric["id"], "from": (HOUR - timedelta(hours=5)).isoformat(),
              "to": (HOUR + timedelta(hours=1)).isoformat()}
    assert rollup_of(await api.get("/v1/usage", params=window))["event_count"] == 0
    expected = sum((Decimal(f"{i % 10}.5") for i in range(EVENTS)), Decimal(0))

    body = {"from": (start - timedelta(minutes=1)).isoformat(), "to": HOUR.isoformat(), "event_name": event_name}
    job = await run_job(pool, redis, settings, api, body)
    assert (job["status"], job["events_total"], job["events_replayed"]) == ("completed", EVENTS, EVENTS)
    usage = rollup_of(await api.get("/v1/usage", params=window))
    assert (usage["event_count"], usage["value"]) == (EVENTS, expected)

    again = await run_job(pool, redis, settings, api, {k: v for k, v in body.items() if k != "event_name"})
    assert again["status"] == "completed"
    again = rollup_of(await api.get("/v1/usage", params=window))
    assert (again["event_count"], again["value"]) == (usage["event_count"], usage["value"])
    assert (await api.get("/v1/events/replay/job_nothing")).status_code == 404


async def test_a_replay_changing_a_finalized_period_reports_its_events_as_late_and_leaves_the_invoice(
        api: httpx.AsyncClient, pool: Pool, redis: Redis, settings: Settings) -> None:
    setup = await billing_setup(api)
    late_name = unique("metered_later")
    now = datetime.now(UTC)
    events = [{"event_name": late_name, "customer_id": setup.customer_id, "idempotency_key": unique("k"),
               "timestamp": (now + timedelta(seconds=1)).isoformat(), "properties": {}} for _ in range(5)]
    assert (await ingest(api, events))["rejected"] == []
    record = EventRecordRepository(pool)
    await eventually(lambda: record.count(Mode.TEST, EventFilter(customer_id=setup.customer_id)),
                     lambda n: n == len(events), 60)
    draft = (await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})).json()
    invoice = (await api.post(f"/v1/invoices/{draft['invoice']['id']}/finalize")).json()["invoice"]
    assert invoice["status"] == "finalized"
    late = LateEventRepository(pool)

    async def reported() -> set[str]:
        return {e.idempotency_key for e in await late.listing(None, 10_000) if e.customer_id == setup.customer_id}

    assert await reported() == set()
    await created(await api.post("/v1/metrics", json={"name": "later", "event_name": late_name,
                                                      "aggregation": "count"}))
    body = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat(),
            "event_name": late_name}
    assert (await run_job(pool, redis, settings, api, body))["status"] == "completed"
    assert await reported() == {e["idempotency_key"] for e in events}
    assert (await api.get(f"/v1/invoices/{invoice['id']}")).json()["invoice"] == invoice

    assert (await run_job(pool, redis, settings, api, body))["status"] == "completed"
    assert await reported() == {e["idempotency_key"] for e in events}
