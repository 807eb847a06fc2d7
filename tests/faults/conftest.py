"""Fault tests run their own processes on their own topics and consumer group, so killing them never
disturbs the session's services, and every figure they check is theirs alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.kafka import last_offsets, unprocessed
from meterflow.adapters.postgres import Pool
from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.accounting import HOUR, HourFigures, figures_of, hour_of
from meterflow.domain.catalog import Customer, Metric
from meterflow.domain.events import encode_json
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.rollups import Aggregation
from meterflow.domain.usage import UsageQuery
from meterflow.settings import Settings
from services.wiring import kafka_setup
from tests.support import eventually, isolated_settings, unique


@pytest.fixture
async def isolated(settings: Settings) -> Settings:
    """The session's servers, with topics, group and ports of this test only."""
    return await isolated_settings(settings)


@dataclass(frozen=True)
class Books:
    """Customers and a count and a sum metric on one event name, created straight in Postgres."""

    mode: Mode
    event_name: str
    customers: list[str]
    count_metric: str
    sum_metric: str


async def open_books(pool: Pool, mode: Mode = Mode.TEST, customers: int = 8) -> Books:
    catalog, now = CatalogRepository(pool), datetime.now(UTC)
    event_name = unique("call")
    ids = []
    for _ in range(customers):
        customer = Customer(new_id(IdKind.CUSTOMER), mode, unique("ext"), "c", None, {}, now)
        await catalog.add_customer(customer)
        ids.append(customer.id)
    metrics = {}
    for aggregation, prop in ((Aggregation.COUNT, None), (Aggregation.SUM, "units")):
        metric = Metric(new_id(IdKind.METRIC), mode, aggregation.value, event_name, aggregation, prop, None, now)
        await catalog.add_metric(metric)
        metrics[aggregation] = metric.id
    return Books(mode, event_name, ids, metrics[Aggregation.COUNT], metrics[Aggregation.SUM])


@dataclass(frozen=True)
class Expected:
    events: int
    units: Decimal
    # The counted set: idempotency key → (customer, properties) of the first event of that key.
    bodies: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)


def workload(books: Books, originals: int) -> tuple[list[dict[str, object]], Expected]:
    """`originals` distinct events, and after every ninth a duplicate of an earlier one (same key and
    customer, so same partition and later offset; every other one with another body): 10% duplicates.
    The first event of a key is the one that counts."""
    def customer(i: int) -> str:
        return books.customers[i % len(books.customers)]

    def properties(i: int) -> dict[str, object]:
        return {"units": f"{i % 7}.25"}

    def original(i: int) -> dict[str, object]:
        return {"event_name": books.event_name, "customer_id": customer(i),
                "idempotency_key": f"{books.count_metric}-{i}", "properties": properties(i)}

    events: list[dict[str, object]] = []
    for i in range(originals):
        events.append(original(i))
        if i % 9 == 8:
            earlier = original(max(0, i - (i * 31) % 500))
            events.append(earlier if i % 2 else {**earlier, "properties": {"units": "1000"}})
    bodies = {f"{books.count_metric}-{i}": (customer(i), properties(i)) for i in range(originals)}
    return events, Expected(originals, sum((Decimal(f"{i % 7}.25") for i in range(originals)), Decimal(0)),
                            bodies)


async def produce(settings: Settings, mode: Mode, events: list[dict[str, object]]) -> None:
    """A direct Kafka producer, as a high-volume customer would write (acks=all, batched)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        topic = settings.events_topic(mode)
        sends = [await producer.send(topic, encode_json(e), key=str(e["customer_id"]).encode()) for e in events]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


@pytest.fixture
async def usage_store(redis: Redis) -> AsyncIterator[UsageStore]:
    yield UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                     retention=timedelta(days=1))


def around_now() -> Period:
    start = align_to_hour(datetime.now(UTC)) - timedelta(hours=2)
    return Period(start, start + timedelta(hours=5))


async def counted(store: UsageStore, books: Books, mode: Mode | None = None) -> tuple[int, Decimal]:
    mode = mode or books.mode
    figures = await store.usage([UsageQuery(mode, metric, customer, around_now())
                                 for metric in (books.count_metric, books.sum_metric)
                                 for customer in books.customers])
    half = len(books.customers)
    return sum(f.rollup.events for f in figures[:half]), sum((f.rollup.total for f in figures[half:]), Decimal(0))


async def wait_for_exact(store: UsageStore, books: Books, expected: Expected, settings: Settings,
                         timeout_s: float = 180, mode: Mode | None = None) -> None:
    """Wait until every record is committed, then the figures must be exact: not one event short
    (lost) and not one over (counted twice). Call it only once every record has been written."""
    ends = await last_offsets(kafka_setup(settings))
    await eventually(lambda: unprocessed(kafka_setup(settings), ends), lambda left: not left, timeout_s, interval_s=0.5)
    assert await counted(store, books, mode) == (expected.events, expected.units)


async def assert_on_record(pool: Pool, books: Books, expected: Expected, mode: Mode | None = None) -> None:
    """The events on record are the counted set, key for key and body for body (docs/billing.md, "Events on record"): no
    duplicate's body, no dead letter, nothing missing. Call it after `wait_for_exact`."""
    rows = await pool.fetch(
        "SELECT idempotency_key, customer_id, properties, topic, kafka_offset FROM events_on_record "
        "WHERE mode = $1 AND customer_id = ANY($2::text[])", (mode or books.mode).value, books.customers)
    keys = [r["idempotency_key"] for r in rows]
    assert len(keys) == len(set(keys)), "an event is on record twice"
    assert {r["idempotency_key"]: (r["customer_id"], r["properties"]) for r in rows} == expected.bodies


@dataclass(frozen=True)
class Accounted:
    """The accounting figures (docs/accounting.md) of one mode summed over the hours from `start` to the end of
    the next one (a fault test may cross an hour). Fault tests share the session's Redis, mode and hours
    with the other tests, so they compare what changed (`since`)."""

    mode: Mode
    start: datetime
    acknowledged: int
    counted: int
    duplicates: int
    dead_lettered: int
    in_flight: int
    balanced: bool  # every hour: acknowledged = counted + duplicates + dead_lettered + lost + in_flight

    @classmethod
    async def read(cls, redis: RedisClient, mode: Mode, start: datetime | None = None) -> Accounted:
        start = start or hour_of(datetime.now(UTC))
        hours = [start, start + HOUR]
        rows = [figures_of(h, t) for h, t in zip(hours, await AccountingStore(redis, timedelta(days=1)).tallies(
            mode, hours), strict=True)]
        return cls(mode, start, sum(r.acknowledged for r in rows), sum(r.counted for r in rows),
                   sum(r.duplicates for r in rows), sum(r.dead_lettered for r in rows),
                   sum(r.in_flight for r in rows), all(map(_balanced, rows)))

    def since(self, earlier: Accounted) -> tuple[int, int, int, int, int]:
        return (self.acknowledged - earlier.acknowledged, self.counted - earlier.counted,
                self.duplicates - earlier.duplicates, self.dead_lettered - earlier.dead_lettered,
                self.in_flight - earlier.in_flight)


def _balanced(row: HourFigures) -> bool:
    return row.acknowledged == row.counted + row.duplicates + row.dead_lettered + row.lost + row.in_flight
