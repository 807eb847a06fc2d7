"""The events on record against real Postgres: one statement per batch, idempotent, partitioned by month,
retention by dropping whole partitions; and the origin a Redis mark keeps for the record counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from meterflow.adapters.event_record_repository import EventRecordRepository, partition_name
from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.counting import CountableEvent
from meterflow.domain.errors import NotFound
from meterflow.domain.event_record import EventFilter, EventOnRecord, Position, month_start, origin_token
from meterflow.domain.modes import Mode
from tests.support import unique

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LONG_AGO = datetime(1990, 3, 14, 13, 37, 12, tzinfo=UTC)


def row(key: str, at: datetime, units: str = "1", offset: int = 0) -> EventOnRecord:
    return EventOnRecord(Mode.TEST, key, "cus_record", "calls", at, {"units": units, "exact": "1.50"},
                         at + timedelta(seconds=1), Position("t.events.test", 2, offset))


async def test_a_batch_goes_on_record_once_in_its_months_partitions_and_retention_drops_whole_months(
        pool: Pool) -> None:
    record, key = EventRecordRepository(pool), unique("k")
    batch = [row(f"{key}-a", LONG_AGO), row(f"{key}-b", LONG_AGO + timedelta(days=30), offset=1)]
    await record.add(batch)
    await EventRecordRepository(pool).add([*batch, row(f"{key}-a", LONG_AGO, units="999")])  # a replay
    rows = await pool.fetch("SELECT * FROM events_on_record WHERE idempotency_key LIKE $1 || '%' "
                            "ORDER BY idempotency_key", key)
    assert [(r["idempotency_key"], r["properties"], r["kafka_partition"], r["kafka_offset"]) for r in rows] == [
        (f"{key}-a", {"units": "1", "exact": "1.50"}, 2, 0), (f"{key}-b", {"units": "1", "exact": "1.50"}, 2, 1)]
    assert rows[0]["timestamp"] == LONG_AGO and rows[0]["received_at"] == LONG_AGO + timedelta(seconds=1)
    dropped = await record.drop_before(datetime(1990, 4, 1, tzinfo=UTC))
    assert partition_name(month_start(LONG_AGO)) in dropped
    assert partition_name(month_start(LONG_AGO + timedelta(days=30))) not in dropped
    left = await pool.fetch("SELECT idempotency_key FROM events_on_record WHERE idempotency_key LIKE $1 || '%'", key)
    assert [r["idempotency_key"] for r in left] == [f"{key}-b"]


async def test_the_mark_keeps_the_origin_of_the_record_counted_so_only_its_replay_is_recounted(redis: Redis) -> None:
    store = UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                       retention=timedelta(days=1))
    now, key = datetime.now(UTC), unique("k")

    def event(offset: int) -> CountableEvent:
        return CountableEvent(Mode.TEST, key, "cus_1", "calls", now, (),
                              origin_token(Position("t", 0, offset), now))

    first = await store.apply([event(5)], now)
    again = await store.apply([event(5), event(9)], now)
    assert [e.origin for e in first.counted] == [event(5).origin]
    assert [e.origin for e in again.recounted] == [event(5).origin]
    assert [e.origin for e in again.duplicates] == [event(9).origin] and again.counted == []


async def test_pages_are_newest_first_filtered_and_a_cursor_not_on_record_is_not_found(pool: Pool) -> None:
    record, key = EventRecordRepository(pool), unique("k")
    customer = unique("cus")
    rows = [EventOnRecord(Mode.TEST, f"{key}-{i}", customer, "calls", LONG_AGO + timedelta(minutes=i), {},
                          LONG_AGO, Position("t", 0, i)) for i in range(5)]
    await record.add(rows)
    wanted = EventFilter(customer_id=customer, start=LONG_AGO + timedelta(minutes=1))
    first, more = await record.page(Mode.TEST, wanted, 2, None)
    assert [e.idempotency_key for e in first] == [f"{key}-4", f"{key}-3"] and more
    rest, more = await record.page(Mode.TEST, wanted, 10, first[-1].idempotency_key)
    assert [e.idempotency_key for e in rest] == [f"{key}-2", f"{key}-1"] and not more
    assert [e for chunk in [c async for c in record.scan(Mode.TEST, wanted, chunk=3)] for e in chunk] == \
        list(reversed(first + rest))
    assert await record.by_key(Mode.LIVE, f"{key}-1") is None
    with pytest.raises(NotFound):
        await record.page(Mode.TEST, wanted, 2, unique("nothing"))
