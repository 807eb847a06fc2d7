"""Writing records straight to the broker, as a high-volume customer (or the bench's baseline) does."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from meterflow.adapters.kafka import start_producer
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import kafka_setup
from testkit.workload import keyed


@dataclass(frozen=True)
class Produced:
    seconds: float          # from the first send to the last acknowledgement
    ends: dict[int, int]    # partition -> offset after its last acknowledged message


async def produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> Produced:
    """Send every (key, value) with the gateway's own producer settings (acks=all, batched), then wait for
    every acknowledgement.

    The ends come from the acknowledgements: the embedded broker (Tansu) answers ListOffsets(latest)
    with the base offset of the partition's last record batch, short of the real end by up to a batch.
    """
    producer = await start_producer(kafka_setup(settings))
    try:
        started = time.perf_counter()
        sends = [await producer.send(topic, value, key=key) for key, value in records]
        acks = await asyncio.gather(*sends)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    ends: dict[int, int] = {}
    for ack in acks:
        ends[ack.partition] = max(ends.get(ack.partition, 0), ack.offset + 1)
    return Produced(seconds, ends)


async def produce_events(settings: Settings, mode: Mode, events: list[dict[str, object]]) -> Produced:
    """Events (JSON bodies) to the mode's events topic, keyed by customer as the gateway keys them."""
    return await produce(settings, settings.events_topic(mode), keyed(events))
