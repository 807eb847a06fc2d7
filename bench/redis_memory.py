"""Figure 6: Redis memory per remembered idempotency key.

A load process marks N fresh keys as the processor does (UsageStore.apply of CountableEvents with no
contributions, in the processor's batch size, so only dedupe marks are written) and reads
`INFO memory` used_memory before and after; the figure is the difference over N. Keys are UUID4
strings, the most common idempotency key clients send.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.usage_store import CountableEvent, UsageStore
from meterflow.domain.modes import Mode
from meterflow.settings import Settings

from bench.loadgen import in_load_process
from bench.workload import EVENT_NAME, unique_key


@dataclass(frozen=True)
class KeyMemory:
    bytes_per_key: float
    keys_added: int
    used_memory_delta: int


async def _mark(settings: Settings, n: int) -> KeyMemory:
    redis = connect_redis(settings.redis_dsn)
    store = UsageStore(redis, dedupe_window=timedelta(seconds=settings.dedupe_window_s),
                       clock_skew=timedelta(seconds=settings.clock_skew_s),
                       retention=timedelta(seconds=settings.rollup_retention_s))
    try:
        keys_before, memory_before = await redis.dbsize(), (await redis.info("memory"))["used_memory"]
        now = datetime.now(UTC)
        for start in range(0, n, settings.processor_batch_max):
            batch = [CountableEvent(Mode.TEST, unique_key(), "cus_bench", EVENT_NAME, now, ())
                     for _ in range(min(settings.processor_batch_max, n - start))]
            await store.apply(batch, now)
        keys_after, memory_after = await redis.dbsize(), (await redis.info("memory"))["used_memory"]
    finally:
        await redis.aclose()
    delta = memory_after - memory_before
    return KeyMemory(delta / n, keys_after - keys_before, delta)


def load(settings: Settings, n: int) -> KeyMemory:
    return asyncio.run(_mark(settings, n))


async def measure(settings: Settings, n: int) -> KeyMemory:
    return await in_load_process(load, settings, n)
