"""Usage and drafts when the current period's first hour holds 3.6 M events (one a millisecond), and
ingest latency alone, while 8 such calls run at once every second (half usage, half drafts), and while
the edge is being folded again after a late event (docs/usage-edges.md).

A customer's monthly subscription starts at 37:12 past an hour of yesterday; every event of that hour is
on record, so the default window's first edge, [37:12, the next hour), holds 1.37 M of its 3.6 M events.

Loading: 3.6 M events through ingest and the processor would take minutes and measure those, not this:
the events are written straight on record by one SQL statement (`generate_series`, as the record figure
does), and the plan and subscription straight into Postgres. Rows written so do not bump their hour's
version (only the record's own insert does); that is the state of rows written before the version table
existed, so the first call folds the edge like any other first call.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from bench import services
from bench.loadgen import in_load_process
from bench.stack import isolated
from bench.workload import EVENT_NAME, UNITS, Books, encoded, event, open_books, unique_key, units_of
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository, partition_name
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.domain.catalog import Plan, PlanPrice
from meterflow.domain.event_record import EventOnRecord, Position, month_start
from meterflow.domain.events import format_timestamp
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, align_to_hour, period_at
from meterflow.settings import Settings
from services.key_ops import create_api_key

CALLERS = 8  # usage and draft calls at once: half each
CALLS_EVERY_S = 1.0
INGEST_SECONDS = 10.0
INGEST_BATCH, INGEST_INTERVAL_S = 10, 0.02  # 500 events/s, 500 latency samples per phase
SAMPLES = 200
FIRST_ANSWER_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Edge:
    """What the load process needs: where to call, whose usage, and what it must count."""

    base_url: str
    api_key: str
    customer_id: str
    subscription_id: str
    sender_customer_id: str
    hour: datetime
    expected_events: int
    expected_units: Decimal


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Kept:
    """Answer times with the edge's figure kept, and ingest's beside them."""

    usage: Timing
    draft: Timing
    whole_hours: Timing  # usage over a month of whole hours only (no edge): this run's baseline
    ingest_alone_p99_ms: float
    ingest_beside_calls_p99_ms: float
    ingest_beside_whole_hour_calls_p99_ms: float  # the control: as many calls, none with an edge
    calls: int


@dataclass(frozen=True)
class EdgeFigures:
    events_in_hour: int
    events_in_edge: int
    load_s: float
    first_fold_s: float
    kept: Kept
    refold_s: float
    ingest_p99_during_fold_ms: float
    answers_during_fold: dict[int, int]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def _client(edge: Edge) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=edge.base_url, timeout=FIRST_ANSWER_TIMEOUT_S,
                             headers={"Authorization": f"Bearer {edge.api_key}"})


async def _usage(client: httpx.AsyncClient, edge: Edge) -> httpx.Response:
    return await client.get("/v1/usage", params={"customer_id": edge.customer_id})


async def _draft(client: httpx.AsyncClient, edge: Edge) -> httpx.Response:
    return await client.post("/v1/invoices/generate", json={"subscription_id": edge.subscription_id})


def _check(answer: httpx.Response, edge: Edge) -> None:
    """A figure of a wrong result is no figure: the usage answer must count the edge exactly."""
    counts = sorted((int(r["event_count"]), Decimal(r["value_exact"])) for r in answer.json()["rollups"])
    events = edge.expected_events
    wanted = sorted([(events, Decimal(events)), (events, edge.expected_units)])
    if counts != wanted:
        raise AssertionError(f"usage {counts} where the events on record give {wanted}")


async def _first_answer(edge: Edge) -> float:
    """Seconds from the first call to the first answer with the figure (503s meanwhile: folding)."""
    async with _client(edge) as client:
        started = time.perf_counter()
        while (answer := await _usage(client, edge)).status_code == 503:
            if time.perf_counter() - started > FIRST_ANSWER_TIMEOUT_S:
                raise TimeoutError("the edge was not folded in time")
            await asyncio.sleep(0.2)
        answer.raise_for_status()
        _check(answer, edge)
        return time.perf_counter() - started


async def _timed(*asks: Callable[[], Awaitable[httpx.Response]]) -> list[Timing]:
    """Each call's answer times, the calls taken in turn (so all see the same load on the machine)."""
    timings: list[list[float]] = [[] for _ in asks]
    for _ in range(SAMPLES):
        for ask, seen in zip(asks, timings, strict=True):
            started = time.perf_counter()
            answer = await ask()
            seen.append(time.perf_counter() - started)
            answer.raise_for_status()
    return [Timing(statistics.median(seen) * 1000, p99(seen) * 1000) for seen in timings]


async def _ingest(client: httpx.AsyncClient, edge: Edge) -> list[float]:
    """A paced sender (another customer, events of now): each POST's answer time."""
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(int(INGEST_SECONDS / INGEST_INTERVAL_S)):
        await asyncio.sleep(max(0.0, started + n * INGEST_INTERVAL_S - time.perf_counter()))
        body = encoded({"events": [event(edge.sender_customer_id, unique_key(), i) for i in range(INGEST_BATCH)]})
        sent = time.perf_counter()
        (await client.post("/v1/ingest", content=body, headers={"Content-Type": "application/json"})
         ).raise_for_status()
        latencies.append(time.perf_counter() - sent)
    return latencies


Ask = Callable[[], Awaitable[httpx.Response]]


def _edge_calls(client: httpx.AsyncClient, edge: Edge) -> list[Ask]:
    """Half usage, half drafts, over the current period (its edge included)."""
    return [(lambda: _draft(client, edge)) if i % 2 else (lambda: _usage(client, edge)) for i in range(CALLERS)]


def _whole_hour_calls(client: httpx.AsyncClient, edge: Edge) -> list[Ask]:
    """The control: usage of the same customer over whole hours only (no edge), a month of them."""
    window = {"customer_id": edge.customer_id, "from": format_timestamp(edge.hour + timedelta(hours=1)),
              "to": format_timestamp(edge.hour + timedelta(days=30, hours=1))}
    return [lambda: client.get("/v1/usage", params=window) for _ in range(CALLERS)]


async def _ingest_beside(client: httpx.AsyncClient, edge: Edge, calls: list[Ask]) -> tuple[float, dict[int, int]]:
    """Ingest's p99 while, every CALLS_EVERY_S, `calls` are made at once (dashboards refreshing together)
    and waited for; the calls' answers by status."""
    sender = asyncio.ensure_future(_ingest(client, edge))
    statuses: dict[int, int] = {}

    async def call(ask: Ask) -> None:
        answer = await ask()
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    started, n = time.perf_counter(), 0
    while not sender.done():
        await asyncio.gather(*(call(ask) for ask in calls))
        n += 1
        await asyncio.sleep(max(0.0, started + n * CALLS_EVERY_S - time.perf_counter()))
    return p99(await sender) * 1000, statuses


async def _kept(edge: Edge) -> Kept:
    async with _client(edge) as client:
        edge_calls, whole_hours = _edge_calls(client, edge), _whole_hour_calls(client, edge)
        usage, draft, baseline = await _timed(edge_calls[0], edge_calls[1], whole_hours[0])
        alone_ms = p99(await _ingest(client, edge)) * 1000
        beside_ms, statuses = await _ingest_beside(client, edge, edge_calls)
        control_ms, _ = await _ingest_beside(client, edge, whole_hours)
    if set(statuses) != {200, 201}:
        raise AssertionError(f"usage and draft calls answered {statuses} with the edge kept")
    return Kept(usage, draft, baseline, alone_ms, beside_ms, control_ms, sum(statuses.values()))


async def _folding(edge: Edge) -> tuple[float, dict[int, int]]:
    async with _client(edge) as client:
        return await _ingest_beside(client, edge, _edge_calls(client, edge))


def first_answer(edge: Edge) -> float:
    return asyncio.run(_first_answer(edge))


def kept(edge: Edge) -> Kept:
    return asyncio.run(_kept(edge))


def folding(edge: Edge) -> tuple[float, dict[int, int]]:
    return asyncio.run(_folding(edge))


async def _books(pool: Pool, events: int) -> tuple[Books, str, datetime, datetime]:
    """The customers, a monthly plan pricing both metrics, and the subscription starting at 37:12 past
    yesterday's hour: (books, subscription, hour, start)."""
    books = await open_books(pool, customers=2)
    plan = Plan(new_id(IdKind.PLAN), books.mode, "bench monthly", None, "USD", "collection", BillingInterval.MONTHLY, (
        PlanPrice.parse(new_id(IdKind.PRICE), books.count_metric, {"model": "flat", "unit_price": "0.001"}),
        PlanPrice.parse(new_id(IdKind.PRICE), books.sum_metric, {"model": "flat", "unit_price": "0.01"})),
        datetime.now(UTC))
    await CatalogRepository(pool).add_plan(plan)
    hour = align_to_hour(datetime.now(UTC)) - timedelta(days=1)
    start = hour + timedelta(minutes=37, seconds=12)
    first = period_at(start, BillingInterval.MONTHLY, 0)
    subscription = new_id(IdKind.SUBSCRIPTION)
    await pool.execute(
        "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
        "current_period_end) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7)",
        subscription, books.mode.value, books.customers[0], plan.id, start, first.start, first.end)
    return books, subscription, hour, start


async def _load(pool: Pool, books: Books, hour: datetime, events: int) -> float:
    """`events` events spread evenly over the hour, straight on record; seconds taken."""
    started = time.perf_counter()
    await EventRecordRepository(pool).ensure_partitions({month_start(hour)})
    await pool.execute(
        "INSERT INTO events_on_record (mode, idempotency_key, customer_id, event_name, timestamp, properties, "
        "received_at, topic, kafka_partition, kafka_offset) "
        "SELECT 'test', 'edge-' || i, $1, $2, $3::timestamptz + (i * $4::interval), "
        "json_build_object($5::text, (i % 7)::text || '.25'), $3, 'bench.events.test', 0, i "
        "FROM generate_series(0, $6 - 1) AS i", books.customers[0], EVENT_NAME, hour,
        timedelta(hours=1) / events, UNITS, events)
    # As the record figure does: the partition vacuumed and analysed now, not by autovacuum while timed.
    await pool.execute(f"VACUUM ANALYZE {partition_name(month_start(hour))}")
    return time.perf_counter() - started


async def _late_event(pool: Pool, books: Books, hour: datetime) -> None:
    """One event of the edge hour goes on record the way the processor writes it: its hour's version
    moves on, so the kept figure no longer holds and the next call folds the edge again."""
    at = hour + timedelta(minutes=59)
    await EventRecordRepository(pool).add([EventOnRecord(
        Mode.TEST, unique_key(), books.customers[0], EVENT_NAME, at, {UNITS: Decimal("0.25")}, at,
        Position("bench.events.test", 0, -1))])


async def measure(settings: Settings, events: int) -> EdgeFigures:
    own = await isolated(settings, "edges")
    api_key = await create_api_key(own, Mode.TEST)
    pool = await create_pool(own.database_dsn, max_size=2)
    try:
        books, subscription, hour, start = await _books(pool, events)
        load_s = await _load(pool, books, hour, events)
        step = timedelta(hours=1) / events
        in_edge = [i for i in range(events) if hour + i * step >= start]
        units = sum((Decimal(units_of(i)) for i in in_edge), Decimal(0))
        async with services.gateway(own) as base_url:
            edge = Edge(base_url, api_key, books.customers[0], subscription, books.customers[1], hour, len(in_edge),
                        units)
            first_fold_s = await in_load_process(first_answer, edge)
            timings = await in_load_process(kept, edge)
            await _late_event(pool, books, hour)
            edge = replace(edge, expected_events=len(in_edge) + 1, expected_units=units + Decimal("0.25"))
            refolding = asyncio.ensure_future(in_load_process(first_answer, edge))
            during_ms, answers = await in_load_process(folding, edge)
            refold_s = await refolding
    finally:
        await pool.close()
    return EdgeFigures(events, len(in_edge), load_s, first_fold_s, timings, refold_s, during_ms, answers)
