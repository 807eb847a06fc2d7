"""kill -9 of the processor mid-stream: after a restart every event counts exactly once, and the accounting
figures (docs/accounting.md) are exact: every record counted or duplicate once, none left in flight."""

from __future__ import annotations

from redis.asyncio import Redis

from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.settings import Settings
from testkit.figures import counted
from testkit.kafka import produce_events
from testkit.workload import open_books, workload
from tests.faults.support import Accounted, assert_on_record, wait_for_exact
from tests.support import ServiceProcess, eventually

EVENTS = 50_000


async def test_kill_9_mid_stream_then_restart_counts_exactly(isolated: Settings, pool: Pool, redis: Redis,
                                                              usage_store: UsageStore) -> None:
    books = await open_books(pool)
    events, expected = workload(books, originals=EVENTS * 9 // 10)
    assert len(events) == EVENTS
    accounted_before = await Accounted.read(redis, books.mode)
    await produce_events(isolated, books.mode, events)

    processor = ServiceProcess("processor", isolated)
    processor.start()
    try:
        await eventually(lambda: counted(usage_store, books), lambda c: c[0] >= expected.events // 3, 120)
        processor.kill()
        partial = await counted(usage_store, books)
        assert 0 < partial[0] < expected.events, "the kill must land mid-stream"
        processor.start()
        await wait_for_exact(usage_store, books, expected, isolated)
        await assert_on_record(pool, books, expected)
        accounted = await Accounted.read(redis, books.mode, accounted_before.start)
        # Written straight to the topic: acknowledged as each is settled, so never in flight; the replay
        # after the kill found its records counted (recounted, adding nothing) or the same duplicates.
        assert accounted.since(accounted_before) == (EVENTS, expected.events, EVENTS - expected.events, 0, 0)
        assert accounted.balanced
    finally:
        processor.stop()
    assert "Traceback" not in processor.log()
