"""Figure 3: events per second `meterflow processor` takes from a pre-loaded topic through dedupe,
hourly rollups and the events on record to committed offsets; with one worker, and with two in one
consumer group (scale-out, docs/processor-design.md).

A load process pre-loads the measurement's own topics (10% duplicates, as tests/faults' workload),
then the workers start together on a consumer group of their own. The clock runs from the first count
visible in Redis (so worker start-up and the group join are not in it) to the moment the group has
committed every offset; the records counted before the first look are taken off the numerator.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import services
from bench.cpu import cpu_seconds, us_per_event
from bench.loadgen import in_load_process
from bench.raw_kafka import produce
from bench.stack import isolated
from bench.workload import Books, encoded, event, expected_units, open_books
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import RedisClient, connect_redis
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.usage import UsageQuery
from meterflow.settings import Settings
from services.devstack.embedded import free_port

CUSTOMERS = 100
T = TypeVar("T")


@dataclass(frozen=True)
class ProcessorRates:
    events_per_s: float  # records (duplicates included) per second, first count to committed offsets
    records: int         # records timed (those counted before the first look are left out)
    seconds: float
    exact: bool
    shares: tuple[int, ...]  # events each worker counted (the split of the work between workers)
    cpu_us_per_event: float | None  # the workers' CPU over the timed records, summed (bench/cpu.py)


def workload(books: Books, originals: int) -> list[tuple[bytes, bytes]]:
    """`originals` distinct events and, after every ninth, a replay of an earlier one (same key and
    customer, so same partition, later offset; every other replay with another body): 10% duplicates."""
    now = datetime.now(UTC)

    def original(i: int) -> dict[str, object]:
        return event(books.customers[i % len(books.customers)], f"{books.count_metric}-{i}", i, now)

    records = []
    for i in range(originals):
        records.append(original(i))
        if i % 9 == 8:
            earlier = original(max(0, i - (i * 31) % 500))
            records.append(earlier if i % 2 else {**earlier, "properties": {"units": "1000"}})
    return [(str(r["customer_id"]).encode(), encoded(r)) for r in records]


def preload(settings: Settings, books: Books, originals: int) -> tuple[int, dict[int, int]]:
    """In the load process: write the whole workload to the events topic; (records, end offsets)."""
    records = workload(books, originals)
    produced = asyncio.run(produce(settings, settings.events_topic(books.mode), records))
    return len(records), produced.ends


def usage_store(redis: RedisClient) -> UsageStore:
    """Only `usage` is called on it: the windows are irrelevant to reading figures."""
    return UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                      retention=timedelta(days=1))


async def counted(store: UsageStore, books: Books) -> tuple[int, Decimal]:
    start = align_to_hour(datetime.now(UTC)) - timedelta(hours=2)
    period = Period(start, start + timedelta(hours=5))
    figures = await store.usage([UsageQuery(books.mode, metric, customer, period)
                                 for metric in (books.count_metric, books.sum_metric)
                                 for customer in books.customers])
    half = len(books.customers)
    return sum(f.rollup.events for f in figures[:half]), sum((f.rollup.total for f in figures[half:]), Decimal(0))


async def poll_until(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout_s: float,
                     interval_s: float, workers: Sequence[subprocess.Popen[bytes]]) -> tuple[float, T]:
    """(perf_counter when `accept` first held, the value); polled with a deadline, never a bare sleep,
    and given up at once if the service under test has died."""
    deadline = time.monotonic() + timeout_s
    while True:
        for service in workers:
            if service.poll() is not None:
                raise RuntimeError(f"{service.args!r} exited with {service.returncode}")
        value = await probe()
        at = time.perf_counter()
        if accept(value):
            return at, value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(interval_s)


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
        books = await open_books(pool, CUSTOMERS)
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
            first_at, _ = await poll_until(redis.dbsize, lambda n: n > keys_before, timeout_s, 0.005,
                                           running)
            cpu_at_first = cpu_seconds(pids)
            first, _ = await counted(store, books)
            drained_at, _ = await poll_until(watcher.drained, bool, timeout_s, 0.05, running)
            cpu_s = cpu_seconds(pids) - cpu_at_first
            shares = tuple([await events_counted(s) for s in each])
        totals = await counted(store, books)
    finally:
        await watcher.stop()
        await redis.aclose()
    already = round(first * records / originals)  # records behind the first count seen
    return ProcessorRates((records - already) / (drained_at - first_at), records - already,
                          drained_at - first_at, totals == (originals, expected_units(originals)), shares,
                          us_per_event(cpu_s, records - already))
