"""Figure 4: end-to-end latency, from the ingest answer to the events being visible in `GET /v1/usage`.

A load process runs a few streams at a steady pace (together ~1,000 events/s). Each stream has one
customer of its own, used as a counter: it posts a batch, notes when the answer came and the
customer's running total, and a poller of its own reads that customer's usage over and over; a batch's
latency is the time from its answer to the first usage answer whose `event_count` includes it. One
sender per customer, each waiting for its answer, keeps the customer's batches in order on its
partition, so "count reached the running total" means "this batch is visible".
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from bench import services
from bench.loadgen import in_load_process
from bench.stack import isolated
from bench.workload import Books, encoded, event, open_books, unique_key
from meterflow.adapters.postgres import create_pool
from meterflow.domain.events import format_timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.periods import align_to_hour
from meterflow.settings import Settings
from services.key_ops import create_api_key

POLL_INTERVAL_S = 0.005
WARMUP_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Pace:
    streams: int
    batch: int
    interval_s: float
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.streams * self.batch / self.interval_s


@dataclass(frozen=True)
class Latencies:
    p50_s: float
    p99_s: float
    max_s: float
    samples: int
    events_per_s: float


@dataclass
class _Stream:
    """One customer's batches: (answered at, running total the count must reach)."""

    customer_id: str
    baseline: int
    pending: list[tuple[float, int]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    last_answer_at: float = 0.0
    done: bool = False


class UsageOf:
    def __init__(self, client: httpx.AsyncClient, metric_id: str) -> None:
        hour = align_to_hour(datetime.now(UTC))
        self._client = client
        self._params = {"metric_id": metric_id, "from": format_timestamp(hour - timedelta(hours=1)),
                        "to": format_timestamp(hour + timedelta(hours=2))}

    async def count(self, customer_id: str) -> int:
        response = await self._client.get("/v1/usage", params={**self._params, "customer_id": customer_id})
        response.raise_for_status()
        [rollup] = response.json()["rollups"]
        return int(rollup["event_count"])


async def _send(client: httpx.AsyncClient, stream: _Stream, pace: Pace) -> None:
    started = time.perf_counter()
    for n in range(int(pace.seconds / pace.interval_s)):
        await asyncio.sleep(max(0.0, started + n * pace.interval_s - time.perf_counter()))
        body = encoded({"events": [event(stream.customer_id, unique_key(), i) for i in range(pace.batch)]})
        response = await client.post("/v1/ingest", content=body)
        response.raise_for_status()
        stream.sent += len(response.json()["ingested"])
        stream.last_answer_at = time.perf_counter()
        stream.pending.append((stream.last_answer_at, stream.baseline + stream.sent))
    stream.done = True


async def _poll(usage: UsageOf, stream: _Stream) -> None:
    while not stream.done or stream.pending:
        if stream.pending:
            count = await usage.count(stream.customer_id)
            seen_at = time.perf_counter()
            while stream.pending and stream.pending[0][1] <= count:
                answered_at, _ = stream.pending.pop(0)
                stream.latencies.append(max(0.0, seen_at - answered_at))
        await asyncio.sleep(POLL_INTERVAL_S)


async def _warm_up(usage: UsageOf, client: httpx.AsyncClient, customer_id: str) -> int:
    """One event per stream, waited for: the processor has joined its group and counts."""
    response = await client.post("/v1/ingest", content=encoded({"events": [event(customer_id, unique_key(), 0)]}))
    response.raise_for_status()
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    while (count := await usage.count(customer_id)) < 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the processor counted nothing within the warm-up")
        await asyncio.sleep(0.05)
    return count


async def _run(base_url: str, api_key: str, books: Books, pace: Pace) -> tuple[list[float], float]:
    """Every batch's latency, and the events per second actually sent."""
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        usage = UsageOf(client, books.count_metric)
        baselines = [await _warm_up(usage, client, c) for c in books.customers]
        streams = [_Stream(c, b) for c, b in zip(books.customers, baselines, strict=True)]
        started = time.perf_counter()
        await asyncio.gather(*(_send(client, s, pace) for s in streams), *(_poll(usage, s) for s in streams))
        sending_s = max(s.last_answer_at for s in streams) - started
    return [latency for s in streams for latency in s.latencies], sum(s.sent for s in streams) / sending_s


def load(base_url: str, api_key: str, books: Books, pace: Pace) -> Latencies:
    """In the load process: the streams, their pollers, and the percentiles of what they saw."""
    latencies, events_per_s = asyncio.run(_run(base_url, api_key, books, pace))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Latencies(cuts[49], cuts[98], max(latencies), len(latencies), events_per_s)


async def measure(settings: Settings, pace: Pace) -> Latencies:
    own = await isolated(settings, "latency")
    api_key = await create_api_key(own, Mode.TEST)
    pool = await create_pool(own.database_dsn)
    try:
        books = await open_books(pool, pace.streams)
    finally:
        await pool.close()
    async with services.gateway(own) as base_url, services.processor(own):
        return await in_load_process(load, base_url, api_key, books, pace)
