"""Figure 3: events per second `meterflow processor` takes from a pre-loaded topic through dedupe,
hourly rollups and the events on record to committed offsets; with one worker, and with two in one
consumer group (scale-out, docs/processor-design.md).

A load process pre-loads the measurement's own topics (the kit's workload, as the fault tests': 10% duplicates),
then the workers start together on a consumer group of their own. The clock runs from the first count
visible in Redis (so worker start-up and the group join are not in it) to the moment the group has
committed every offset; the records counted before the first look are taken off the numerator.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import services
from bench.cpu import cpu_seconds, redis_cpu_seconds, us_per_event
from bench.loadgen import in_load_process
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.settings import Settings
from testkit.environment import isolated
from testkit.figures import counted, usage_store
from testkit.kafka import produce_events
from testkit.polling import eventually
from testkit.ports import free_port
from testkit.workload import REQUEST_DETAIL, Books, expected_units, open_books, workload

CUSTOMERS = 100


@dataclass(frozen=True)
class ProcessorRates:
    events_per_s: float  # records (duplicates included) per second, first count to committed offsets
    records: int         # records timed (those counted before the first look are left out)
    seconds: float
    exact: bool
    shares: tuple[int, ...]  # events each worker counted (the split of the work between workers)
    cpu_us_per_event: float | None  # the workers' CPU over the timed records, summed (bench/cpu.py)
    redis_cpu_us_per_event: float | None  # Redis's own CPU over the same records (marks, rollups, tallies)


def preload(settings: Settings, books: Books, originals: int) -> tuple[int, dict[int, int]]:
    """In the load process: write the whole workload to the events topic; (records, end offsets)."""
    events, _ = workload(books, originals, datetime.now(UTC), REQUEST_DETAIL)
    return len(events), asyncio.run(produce_events(settings, books.mode, events)).ends


class CommitWatcher:
    """Has the group committed every offset up to `ends`? Asked through a consumer of the group that
    never subscribes, so it never joins or rebalances it (the admin call is not understood by Tansu)."""

    def __init__(self, settings: Settings, topic: str, ends: dict[int, int]) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers,
                                          group_id=settings.processor_id, enable_auto_commit=False)
        self._ends = {TopicPartition(topic, p): end for p, end in ends.items()}

    async def start(self) -> None:
        await self._consumer.start()

    async def drained(self) -> bool:
        for tp, end in self._ends.items():
            if end and (await self._consumer.committed(tp) or 0) < end:
                return False
        return True

    async def stop(self) -> None:
        await self._consumer.stop()


_COUNTED = re.compile(rb"^meterflow_events_counted_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


async def events_counted(settings: Settings) -> int:
    """What one worker has counted so far, from its own /metrics."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        body = (await client.get(f"http://127.0.0.1:{settings.processor_web_port}/metrics")).content
    return int(sum(float(n) for n in _COUNTED.findall(body)))


def worker_settings(own: Settings, workers: int) -> list[Settings]:
    """One group (the same processor_id), one web port each."""
    return [own] + [own.model_copy(update={"processor_web_port": free_port()}) for _ in range(workers - 1)]


async def measure(settings: Settings, originals: int, workers: int = 1, timeout_s: float = 240) -> ProcessorRates:
    own = await isolated(settings, "processor" if workers == 1 else f"processor{workers}")
    pool = await create_pool(own.database_dsn)
    try:
        books = await open_books(pool, customers=CUSTOMERS)
    finally:
        await pool.close()
    records, ends = await in_load_process(preload, own, books, originals)
    redis, watcher = connect_redis(own.redis_dsn), CommitWatcher(own, own.events_topic(books.mode), ends)
    store = usage_store(redis)
    await watcher.start()
    each = worker_settings(own, workers)
    try:
        keys_before = await redis.dbsize()
        async with contextlib.AsyncExitStack() as stack:
            # Started together, so that they join the group in one generation (Tansu holds a join for
            # the rebalance delay), not one after the other with a rebalance mid-measurement.
            running = await asyncio.gather(*(stack.enter_async_context(services.processor(s)) for s in each))
            # A batch's marks and rollups land in one transaction, so the first new key is the first
            # count; DBSIZE is one cheap command, where reading every figure would steal CPU from the
            # processor on a small machine.
            pids = [worker.pid for worker in running]
            await eventually(redis.dbsize, lambda n: n > keys_before, timeout_s, 0.005, running)
            first_at, cpu_at_first = time.perf_counter(), cpu_seconds(pids)
            redis_cpu_at_first = await redis_cpu_seconds(redis)
            first, _ = await counted(store, books)
            await eventually(watcher.drained, bool, timeout_s, 0.05, running)
            drained_at, cpu_s = time.perf_counter(), cpu_seconds(pids) - cpu_at_first
            redis_cpu_s = await redis_cpu_seconds(redis) - redis_cpu_at_first
            shares = tuple([await events_counted(s) for s in each])
        totals = await counted(store, books)
    finally:
        await watcher.stop()
        await redis.aclose()
    already = round(first * records / originals)  # records behind the first count seen
    return ProcessorRates((records - already) / (drained_at - first_at), records - already,
                          drained_at - first_at, totals == (originals, expected_units(originals)), shares,
                          us_per_event(cpu_s, records - already), us_per_event(redis_cpu_s, records - already))
