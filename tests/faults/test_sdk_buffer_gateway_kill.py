"""The SDK's buffered ingest while the gateway is killed -9 and restarted: 100,000 events given to the
buffer, every one counted exactly once (none lost in the batches in flight, none counted twice when
they are sent again), with nothing but the buffer's own retries."""

from __future__ import annotations

import asyncio
import threading

from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.settings import Settings
from meterflow_client import IngestResult, Meterflow, RetryPolicy
from testkit.workload import open_books, workload
from tests.faults.support import assert_on_record, wait_for_exact
from tests.support import ServiceProcess

ORIGINALS = 90_000  # with one duplicate after every ninth: 100,000 events


async def test_buffered_ingest_survives_a_gateway_kill_with_every_event_counted_once(
        isolated: Settings, pool: Pool, usage_store: UsageStore, test_key: str) -> None:
    books = await open_books(pool)
    events, expected = workload(books, originals=ORIGINALS)
    assert len(events) == 100_000
    gateway, processor = ServiceProcess("gateway", isolated), ServiceProcess("processor", isolated)
    gateway.start()
    processor.start()
    results: list[IngestResult] = []
    a_third_answered = threading.Event()

    def answered(result: IngestResult) -> None:
        results.append(result)
        if sum(len(r.ingested) + len(r.duplicates) for r in results) >= len(events) // 3:
            a_third_answered.set()

    def produce() -> None:
        with Meterflow(api_key=test_key, base_url=f"http://127.0.0.1:{isolated.api_port}", timeout_s=10,
                       retry_policy=RetryPolicy(initial_delay_s=0.2, max_delay_s=2)) as client, \
                client.events.buffer(on_result=answered, close_timeout_s=240) as buffer:
            for event in events:
                buffer.add(event)

    try:
        sending = asyncio.create_task(asyncio.to_thread(produce))
        assert await asyncio.to_thread(a_third_answered.wait, 120), "a third of the events was never answered"
        gateway.kill()
        await asyncio.to_thread(gateway.start)
        await asyncio.wait_for(sending, timeout=300)  # raises IngestFailed if a batch was not delivered

        assert all(r.rejected == [] for r in results)
        answered_keys = {key for r in results for key in (*r.ingested, *r.duplicates)}
        assert answered_keys == set(expected.bodies)
        await wait_for_exact(usage_store, books, expected, isolated)
        await assert_on_record(pool, books, expected)
    finally:
        gateway.stop()
        processor.stop()
