"""The customer portal's page (`GET /portal/<token>`) for a customer with 1,000,000 events in the current
period: p50 and p95 of its answer, HTML rendered, as a customer's browser asks for it.

Loading, as the record figure does: the million events are written on record by one `INSERT … SELECT
generate_series` (spread evenly from the period's start, 37:12 past an hour 20 days ago, to two minutes
ago), then replay's own rebuild (`rebuild_hours`) folds them into the hourly rollups, exactly the rollups
the processor would have written for them. The period's first hour is partial, so the page also reads an
edge figure from the record, as a real customer's page does. The plan prices a count and a sum metric of
those events (two plots of 21 daily buckets each, and the accrued amount computed like a draft).
Only the gateway runs: no processor, nothing counting meanwhile.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bench import services
from bench.loadgen import in_load_process
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository, partition_name
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.application.replay import rebuild_hours
from meterflow.domain.catalog import Plan, PlanPrice
from meterflow.domain.event_record import month_start
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period, align_to_hour, period_at
from meterflow.settings import Settings
from services.key_ops import create_api_key
from services.wiring import usage_store
from testkit.environment import isolated
from testkit.workload import UNITS, Books, open_books

SAMPLES = 200
FIRST_ANSWER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Page:
    """What the load process asks for, and the figure the page must show (else no figure)."""

    url: str
    count_metric: str
    events: int


@dataclass(frozen=True)
class PortalFigures:
    events: int
    load_s: float
    first_answer_s: float
    p50_ms: float
    p95_ms: float
    page_bytes: int


def _shows_the_count(page: Page, html: str) -> bool:
    return f'data-billed="{page.count_metric}">{page.events}</span>' in html


async def _timed(page: Page) -> tuple[float, list[float], int]:
    """The first answer (the edge hour folded from the record; 503 meanwhile), then SAMPLES page loads in
    turn, each checked."""
    async with httpx.AsyncClient(timeout=FIRST_ANSWER_TIMEOUT_S) as client:
        started = time.perf_counter()
        while (answer := await client.get(page.url)).status_code == 503:
            if time.perf_counter() - started > FIRST_ANSWER_TIMEOUT_S:
                raise TimeoutError("the portal page never answered")
            await asyncio.sleep(0.2)
        first_s = time.perf_counter() - started
        seen = []
        for _ in range(SAMPLES):
            started = time.perf_counter()
            answer = await client.get(page.url)
            seen.append(time.perf_counter() - started)
            if answer.status_code != 200 or not _shows_the_count(page, answer.text):
                raise AssertionError(f"the page answered {answer.status_code} without the count {page.events}")
        return first_s, seen, len(answer.content)


def timed(page: Page) -> tuple[float, list[float], int]:
    return asyncio.run(_timed(page))


async def _subscribed(pool: Pool, books: Books, start: datetime) -> None:
    plan = Plan(new_id(IdKind.PLAN), books.mode, "bench portal", None, "USD", "collection", BillingInterval.MONTHLY, (
        PlanPrice.parse(new_id(IdKind.PRICE), books.count_metric, {"model": "flat", "unit_price": "0.001"}),
        PlanPrice.parse(new_id(IdKind.PRICE), books.sum_metric, {"model": "flat", "unit_price": "0.01"})),
        datetime.now(UTC))
    await CatalogRepository(pool).add_plan(plan)
    first = period_at(start, BillingInterval.MONTHLY, 0)
    await pool.execute(
        "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
        "current_period_end) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7)",
        new_id(IdKind.SUBSCRIPTION), books.mode.value, books.customers[0], plan.id, start, first.start, first.end)


async def _load(pool: Pool, settings: Settings, books: Books, start: datetime, end: datetime, events: int) -> float:
    """`events` events evenly over [start, end) on record, then folded into the rollups; seconds taken."""
    started = time.perf_counter()
    months = {month_start(start), month_start(end)}
    record = EventRecordRepository(pool)
    await record.ensure_partitions(months)
    await pool.execute(
        "INSERT INTO events_on_record (mode, idempotency_key, customer_id, event_name, timestamp, properties, "
        "received_at, topic, kafka_partition, kafka_offset) "
        "SELECT 'test', 'portal-' || i, $1, $2, $3::timestamptz + (i * $4::interval), "
        "json_build_object($5::text, (i % 7)::text || '.25'), $3, 'bench.events.test', 0, i "
        "FROM generate_series(0, $6 - 1) AS i", books.customers[0], books.event_name, start, (end - start) / events,
        UNITS, events)
    for month in months:
        await pool.execute(f"VACUUM ANALYZE {partition_name(month)}")
    redis = connect_redis(settings.redis_dsn)
    try:
        hours = Period(align_to_hour(start), align_to_hour(end) + timedelta(hours=1))
        folded = await rebuild_hours(CatalogRepository(pool), record, usage_store(redis, settings),
                                     Mode.TEST, hours, books.event_name)
    finally:
        await redis.aclose()
    if folded.replayed != events:
        raise AssertionError(f"folded {folded.replayed} of {events} events into the rollups")
    return time.perf_counter() - started


def _quantile(samples: list[float], n: int, at: int) -> float:
    return statistics.quantiles(samples, n=n, method="inclusive")[at - 1]


async def measure(settings: Settings, events: int) -> PortalFigures:
    own = await isolated(settings, "portal")
    api_key = await create_api_key(own, Mode.TEST)
    pool = await create_pool(own.database_dsn, max_size=2)
    try:
        books = await open_books(pool, customers=1)  # an event name of its own: other figures leave events on record
        now = datetime.now(UTC)
        start = align_to_hour(now) - timedelta(days=20) + timedelta(minutes=37, seconds=12)
        await _subscribed(pool, books, start)
        load_s = await _load(pool, own, books, start, now - timedelta(minutes=2), events)
        async with services.gateway(own) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            made = await client.post("/v1/portal/tokens", json={"customer_external_id": books.customers[0]},
                                     headers={"Authorization": f"Bearer {api_key}"})
            made.raise_for_status()
            page = Page(made.json()["token"]["portal_url"], books.count_metric, events)
            first_s, seen, size = await in_load_process(timed, page)
    finally:
        await pool.close()
    return PortalFigures(events, load_s, first_s, statistics.median(seen) * 1000, _quantile(seen, 20, 19) * 1000,
                         size)
