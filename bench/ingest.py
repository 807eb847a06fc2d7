"""Figure 2: events per second a running `meterflow gateway` acknowledges, with its spool on (the default:
on the gateway's disk, fsynced, and acks=all at the broker) and off (acks=all only), in the same run, and
the spool's bytes on disk per event acknowledged (nothing is counted during the figure, so nothing is
freed).

Several httpx clients in a load process post batches of 1,000 events with unique idempotency keys
as fast as the gateway answers; the figure is acknowledged (`ingested`) events over the wall time of
the timed phase. Bodies are encoded before timing, so the client's JSON work is not in the figure.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench import services
from bench.cpu import cpu_seconds, redis_cpu_seconds, settled_cpu_seconds, us_per_event
from bench.loadgen import in_load_process
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.key_ops import create_api_key
from testkit.environment import isolated
from testkit.workload import add_customers, encoded, event, unique_key

T = TypeVar("T")
BATCH = 1_000
WARMUP_BATCHES_PER_CLIENT = 2


@dataclass(frozen=True)
class IngestRates:
    events_per_s: float
    events: int
    seconds: float
    clients: int
    warmup_events: int = 0
    cpu_us_per_event: float | None = None  # the gateway's CPU over warm-up and timed events (bench/cpu.py)
    redis_cpu_us_per_event: float | None = None  # Redis's own CPU over the same events (pre-checks, keys)


@dataclass(frozen=True)
class SpoolRates:
    spooled: IngestRates
    without: IngestRates
    spool_bytes_per_event: float


def bodies(customers: list[str], batches: int) -> list[bytes]:
    return [encoded({"events": [event(customers[(b * BATCH + i) % len(customers)], unique_key(), i)
                                for i in range(BATCH)]}) for b in range(batches)]


async def _client(base_url: str, api_key: str, queue: list[bytes], deadline: float) -> int:
    """Post bodies until none is left or the deadline passes; the number of events acknowledged."""
    acknowledged = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {api_key}",
                                          "Content-Type": "application/json"}) as client:
        while queue and time.perf_counter() < deadline:
            response = await client.post("/v1/ingest", content=queue.pop())
            response.raise_for_status()
            result = response.json()
            if result["rejected"] or result["duplicates"]:
                raise RuntimeError(f"gateway refused part of a batch: {result['rejected'][:3]}")
            acknowledged += len(result["ingested"])
    return acknowledged


async def _post_all(base_url: str, api_key: str, queue: list[bytes], clients: int, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    return sum(await asyncio.gather(*(_client(base_url, api_key, queue, deadline) for _ in range(clients))))


def load(base_url: str, api_key: str, customers: list[str], clients: int, batches: int,
         max_seconds: float) -> IngestRates:
    """In the load process: warm the gateway up (connections, caches), then time the rest."""
    warmup = bodies(customers, clients * WARMUP_BATCHES_PER_CLIENT)
    timed = bodies(customers, batches)
    warmup_events = asyncio.run(_post_all(base_url, api_key, warmup, clients, max_seconds))
    started = time.perf_counter()
    events = asyncio.run(_post_all(base_url, api_key, timed, clients, max_seconds))
    seconds = time.perf_counter() - started
    return IngestRates(events / seconds, events, seconds, clients, warmup_events)


async def _key_and_customers(own: Settings) -> tuple[str, list[str]]:
    api_key = await create_api_key(own, Mode.TEST)
    pool = await create_pool(own.database_dsn)
    try:
        return api_key, await add_customers(pool, 100)
    finally:
        await pool.close()


async def against_gateway(settings: Settings, name: str, load_with: Callable[..., T], *args: Any) -> T:
    """`load_with(base_url, api_key, customers, *args)` in a load process, against a gateway of its own
    (topics, test key and 100 customers named after `name`)."""
    own = await isolated(settings, name)
    api_key, customers = await _key_and_customers(own)
    async with services.gateway(own) as base_url:
        return await in_load_process(load_with, base_url, api_key, customers, *args)


async def _timed_run(settings: Settings, api_key: str, customers: list[str], clients: int, batches: int,
                     max_seconds: float) -> IngestRates:
    """One load against a fresh gateway, with the gateway's CPU per event acknowledged (warm-up included,
    start-up not)."""
    redis = connect_redis(settings.redis_dsn)
    try:
        async with services.running_gateway(settings) as (base_url, process):
            before, redis_before = cpu_seconds([process.pid]), await redis_cpu_seconds(redis)
            rates = await in_load_process(load, base_url, api_key, customers, clients, batches, max_seconds)
            cpu_s = await settled_cpu_seconds([process.pid]) - before
            redis_cpu_s = await redis_cpu_seconds(redis) - redis_before
    finally:
        await redis.aclose()
    events = rates.events + rates.warmup_events
    return replace(rates, cpu_us_per_event=us_per_event(cpu_s, events),
                   redis_cpu_us_per_event=us_per_event(redis_cpu_s, events))


async def measure(settings: Settings, clients: int, batches: int, max_seconds: float, rounds: int = 2) -> SpoolRates:
    """Off, on, off, on…: each on topics of its own, the spool in a fresh folder each time; the best run of
    each. On a shared machine one run can be half as fast as the next: alternating and keeping the best
    compares the two at their least disturbed."""
    api_key, customers = await _key_and_customers(await isolated(settings, "ingest"))
    without: list[IngestRates] = []
    spooled: list[tuple[IngestRates, float]] = []
    for _ in range(rounds):
        off = (await isolated(settings, "ingest-nospool")).model_copy(update={"spool_enabled": False})
        without.append(await _timed_run(off, api_key, customers, clients, batches, max_seconds))
        with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool_dir:
            on = (await isolated(settings, "ingest")).model_copy(update={"spool_dir": Path(spool_dir)})
            rates = await _timed_run(on, api_key, customers, clients, batches, max_seconds)
            on_disk = sum(f.stat().st_size for f in Path(spool_dir).rglob("*.seg"))
            spooled.append((rates, on_disk / (rates.events + rates.warmup_events)))
    best, bytes_per_event = max(spooled, key=lambda run: run[0].events_per_s)
    return SpoolRates(best, max(without, key=lambda run: run.events_per_s), bytes_per_event)
