"""kill -9 of the gateway while a client retries its batches: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio

import httpx

from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.settings import Settings
from testkit.workload import open_books, workload
from tests.faults.support import assert_on_record, wait_for_exact
from tests.support import ServiceProcess

BATCH = 1_000
ATTEMPTS = 3


async def send_with_retries(client: httpx.AsyncClient, batch: list[dict[str, object]]) -> dict[str, object]:
    """A producer that retries on any error or timeout, three times, with backoff."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await client.post("/v1/ingest", json={"events": batch}, timeout=5)
            if response.status_code == 202:
                body: dict[str, object] = response.json()
                return body
        except httpx.HTTPError:
            pass
        await asyncio.sleep(2 ** attempt)
    raise AssertionError(f"batch not accepted after {ATTEMPTS} attempts")


async def test_gateway_killed_while_client_retries_counts_exactly(isolated: Settings, pool: Pool,
                                                                  usage_store: UsageStore, test_key: str) -> None:
    books = await open_books(pool)
    events, expected = workload(books, originals=18_000)
    batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
    gateway, processor = ServiceProcess("gateway", isolated), ServiceProcess("processor", isolated)
    gateway.start()
    processor.start()
    acknowledged, a_third_acknowledged = 0, asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{isolated.api_port}",
                                     headers={"Authorization": f"Bearer {test_key}"}) as client:
            async def client_run() -> None:
                nonlocal acknowledged
                for batch in batches:
                    answer = await send_with_retries(client, batch)
                    assert answer["rejected"] == []
                    acknowledged += 1
                    if acknowledged == len(batches) // 3:
                        a_third_acknowledged.set()

            sending = asyncio.create_task(client_run())
            await asyncio.wait_for(a_third_acknowledged.wait(), timeout=60)
            gateway.kill()
            await asyncio.to_thread(gateway.start)
            await sending
        await wait_for_exact(usage_store, books, expected, isolated)
        await assert_on_record(pool, books, expected)
    finally:
        gateway.stop()
        processor.stop()
