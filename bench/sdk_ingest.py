"""Figure: events per second one Python process gets acknowledged through the SDK's buffered ingest
(`client.events.buffer()`), against the same kind of gateway as the raw HTTP ingest figure.

Unlike that figure, the client's own work is in this one: encoding each batch, keying it, reading each
answer into its model. The events are built before timing (an application has them already); the
buffer's exit, which waits for the last answer, is inside the timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.ingest import against_gateway
from meterflow.settings import Settings
from meterflow_client import IngestResult, Meterflow
from testkit.workload import event, unique_key

BATCH = 1_000
CONCURRENCY = 6  # batches in flight at once, as many as the raw figure's clients
WARMUP_EVENTS = 2 * CONCURRENCY * BATCH


@dataclass(frozen=True)
class BufferedRates:
    events_per_s: float
    events: int
    seconds: float


def _send(base_url: str, api_key: str, events: list[dict[str, object]]) -> int:
    """The events acknowledged (ingested) once the buffer has closed."""
    acknowledged: list[int] = []

    def answered(result: IngestResult) -> None:
        if result.rejected or result.duplicates:
            raise RuntimeError(f"gateway refused part of a batch: {result.rejected[:3]}")
        acknowledged.append(len(result.ingested))

    with Meterflow(api_key=api_key, base_url=base_url) as client, \
            client.events.buffer(concurrency=CONCURRENCY, max_buffered=len(events) + BATCH,
                                 on_result=answered) as buffer:
        for item in events:
            buffer.add(item)
    return sum(acknowledged)


def load(base_url: str, api_key: str, customers: list[str], events: int) -> BufferedRates:
    """In the load process: warm up (connections, caches), then time the rest."""
    def made(n: int) -> list[dict[str, object]]:
        return [event(customers[i % len(customers)], unique_key(), i) for i in range(n)]

    _send(base_url, api_key, made(WARMUP_EVENTS))
    timed = made(events)
    started = time.perf_counter()
    acknowledged = _send(base_url, api_key, timed)
    seconds = time.perf_counter() - started
    if acknowledged != events:
        raise AssertionError(f"{acknowledged} of {events} events acknowledged")
    return BufferedRates(acknowledged / seconds, acknowledged, seconds)


async def measure(settings: Settings, events: int) -> BufferedRates:
    return await against_gateway(settings, "sdk", load, events)
