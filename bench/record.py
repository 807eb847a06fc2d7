"""Figures for the events on record: bytes on disk per event, a page of an invoice's events at 1,000,000
events in the period (p99), and a replay of those 1,000,000 events.

The million rows are written by one `INSERT … SELECT generate_series` (the processor's own write path is
measured by the processor figure, which runs with the record on); the page is read through the same
repository call `GET /v1/invoices/{id}/events` makes (SQL and decoding; HTTP adds the gateway's own
few milliseconds), at 200 random cursors.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.workload import EVENT_NAME, UNITS, open_books
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository, partition_name
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.application.replay import rebuild_hours
from meterflow.domain.event_record import EventFilter, next_month
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.settings import Settings
from services.wiring import usage_store

MONTH = datetime(2001, 1, 1, tzinfo=UTC)  # a month of its own: its partition holds only these rows
SAMPLES = 200


@dataclass(frozen=True)
class RecordFigures:
    events: int
    bytes_per_event: float
    page_p99_ms: float
    replay_s: float


async def measure(settings: Settings, events: int) -> RecordFigures:
    pool = await create_pool(settings.database_dsn, max_size=2)
    redis = connect_redis(settings.redis_dsn)
    try:
        books = await open_books(pool, customers=1)
        customer, record = books.customers[0], EventRecordRepository(pool)
        await record.ensure_partitions({MONTH})
        seconds_apart = int((next_month(MONTH) - MONTH).total_seconds() * 0.95) // events or 1
        await pool.execute(
            "INSERT INTO events_on_record (mode, idempotency_key, customer_id, event_name, timestamp, properties, "
            "received_at, topic, kafka_partition, kafka_offset) "
            "SELECT 'test', 'bench-' || i, $1, $2, $3::timestamptz + make_interval(secs => i * $5), "
            "json_build_object($6::text, (i % 7)::text || '.25'), $3, 'bench.events.test', 0, i "
            "FROM generate_series(0, $4 - 1) AS i", customer, EVENT_NAME, MONTH, events, seconds_apart, UNITS)
        await pool.execute(f"VACUUM ANALYZE {partition_name(MONTH)}")
        size = await pool.fetchval("SELECT pg_total_relation_size($1::regclass)", partition_name(MONTH))
        wanted = EventFilter(customer, (EVENT_NAME,), start=MONTH, end=next_month(MONTH))
        timings = []
        for _ in range(SAMPLES):
            cursor = f"bench-{random.randrange(events)}"
            started = time.perf_counter()
            await record.page(Mode.TEST, wanted, 100, cursor)
            timings.append(time.perf_counter() - started)
        timings.sort()
        started = time.perf_counter()
        folded = await rebuild_hours(CatalogRepository(pool), record, usage_store(redis, settings),
                                     Mode.TEST, Period(MONTH, next_month(MONTH)), EVENT_NAME)
        replay_s = time.perf_counter() - started
        assert folded.replayed == events, f"replayed {folded.replayed} of {events}"
        return RecordFigures(events, size / events, timings[int(SAMPLES * 0.99) - 1] * 1000, replay_s)
    finally:
        await redis.aclose()
        await pool.close()
