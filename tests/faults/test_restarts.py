"""Restarts of Redis, a rebalance after a killed worker, and test/live separation: always exact, the
accounting figures (docs/accounting.md) included."""

from __future__ import annotations

from redis.asyncio import Redis

from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from testkit.figures import counted
from testkit.kafka import produce_events
from testkit.workload import Expected, open_books, workload
from tests.faults.support import Accounted, assert_on_record, wait_for_exact
from tests.support import ServiceProcess, TestEnvironment, eventually


async def assert_accounted(redis: Redis, before: Accounted, records: int, expected: Expected) -> None:
    """Records written straight to the topic: each acknowledged as it settles, counted or duplicate once."""
    after = await Accounted.read(redis, before.mode, before.start)
    assert after.since(before) == (records, expected.events, records - expected.events, 0, 0)
    assert after.balanced


async def test_redis_killed_and_restarted_mid_stream_counts_exactly(
        environment: TestEnvironment, isolated: Settings, pool: Pool, redis: Redis, usage_store: UsageStore) -> None:
    assert environment.stack is not None, "restarting Redis needs the embedded stack"
    redis_server = environment.stack.by_name("redis")
    books = await open_books(pool)
    events, expected = workload(books, originals=18_000)
    before = await Accounted.read(redis, books.mode)
    await produce_events(isolated, books.mode, events)
    with ServiceProcess.running("processor", isolated):
        await eventually(lambda: counted(usage_store, books), lambda c: c[0] >= expected.events // 4, 120)
        redis_server.kill()
        redis_server.start()
        await wait_for_exact(usage_store, books, expected, isolated)
    await assert_on_record(pool, books, expected)
    await assert_accounted(redis, before, len(events), expected)


async def test_two_workers_one_killed_mid_stream_counts_exactly(isolated: Settings, pool: Pool, redis: Redis,
                                                                usage_store: UsageStore) -> None:
    books = await open_books(pool)
    events, expected = workload(books, originals=27_000)
    before = await Accounted.read(redis, books.mode)
    first, second = ServiceProcess("processor", isolated), ServiceProcess("processor", isolated)
    first.start()
    second.start(processor_web_port=isolated.processor_web_port + 1)
    try:
        await produce_events(isolated, books.mode, events)
        await eventually(lambda: counted(usage_store, books), lambda c: c[0] >= expected.events // 4, 120)
        second.kill()
        await wait_for_exact(usage_store, books, expected, isolated)
        await assert_on_record(pool, books, expected)
        await assert_accounted(redis, before, len(events), expected)
    finally:
        first.stop()
        second.stop()


async def test_the_same_key_in_test_and_live_counts_once_in_each(isolated: Settings, pool: Pool,
                                                                 usage_store: UsageStore) -> None:
    test_books = await open_books(pool, mode=Mode.TEST, customers=2)
    live_books = await open_books(pool, mode=Mode.LIVE, customers=2)
    test_events, expected = workload(test_books, originals=900)
    # The live events reuse the test events' idempotency keys exactly.
    live_events = [{**e, "customer_id": live_books.customers[test_books.customers.index(str(e["customer_id"]))],
                    "event_name": live_books.event_name} for e in test_events]
    with ServiceProcess.running("processor", isolated):
        await produce_events(isolated, Mode.TEST, test_events)
        await produce_events(isolated, Mode.LIVE, live_events)
        await wait_for_exact(usage_store, test_books, expected, isolated)
        await wait_for_exact(usage_store, live_books, expected, isolated)
    live = {key: (live_books.customers[test_books.customers.index(customer)], body)
            for key, (customer, body) in expected.bodies.items()}
    await assert_on_record(pool, test_books, expected)
    await assert_on_record(pool, live_books, Expected(expected.events, expected.units, live))
