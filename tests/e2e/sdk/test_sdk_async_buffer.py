"""The async buffer on the real stack: thousands of events added one by one from a task, sent in
batches by several tasks at once, each counted exactly once."""

from __future__ import annotations

from meterflow_client import AsyncMeterflow, IngestResult, Rollup
from tests.support import eventually, unique

EVENTS = 5_000


async def test_events_added_to_the_async_buffer_are_each_counted_once(async_client: AsyncMeterflow) -> None:
    sdk = async_client
    customer = await sdk.customers.create(external_id=unique("ext"), name="Async producer")
    metric = await sdk.metrics.create(name="Calls", event_name=unique("call"), aggregation="count")
    plan = await sdk.plans.create(name="Per call", prices=[{"metric_id": metric.id, "model": "flat",
                                                            "unit_price": "1"}])
    await sdk.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    results: list[IngestResult] = []
    async with sdk.events.buffer(max_batch=500, concurrency=3, on_result=results.append) as buffer:
        for _ in range(EVENTS):
            assert await buffer.add({"event_name": metric.event_name, "customer_id": customer.id})
    assert sum(len(r.ingested) for r in results) == EVENTS

    async def usage() -> Rollup:
        [rollup] = await sdk.usage.get(customer_id=customer.id, metric_id=metric.id).to_list()
        return rollup

    rollup = await eventually(usage, lambda r: r.event_count >= EVENTS, timeout_s=60)
    assert rollup.event_count == EVENTS
