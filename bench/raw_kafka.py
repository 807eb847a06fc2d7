"""Figure 1, the baseline: how fast a plain aiokafka client writes and reads this broker.

Written with the gateway's own producer settings (acks=all, `start_producer`) and read back by a
group-less consumer with aiokafka's defaults, as the processor's would be: the gateway and processor
figures are then read as a share of what the broker and client library allow on this machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.loadgen import in_load_process
from bench.stack import isolated
from bench.workload import encoded, event, unique_key
from meterflow.adapters.kafka import start_producer
from meterflow.settings import Settings
from services.wiring import kafka_setup


@dataclass(frozen=True)
class RawRates:
    produce_per_s: float
    consume_per_s: float
    messages: int
    message_bytes: int
    # The client's CPU per message (the load process's own, producer or consumer start and stop
    # included): the floor under the gateway's and the processor's CPU per event.
    produce_cpu_us_per_message: float
    consume_cpu_us_per_message: float


def messages(n: int, customers: int = 100) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC)
    ids = [f"cus_bench{c:012d}" for c in range(customers)]
    return [(ids[i % customers].encode(), encoded(event(ids[i % customers], unique_key(), i, now)))
            for i in range(n)]


@dataclass(frozen=True)
class Produced:
    seconds: float          # from the first send to the last acknowledgement
    ends: dict[int, int]    # partition -> offset after its last acknowledged message


async def produce(settings: Settings, topic: str, batch: list[tuple[bytes, bytes]]) -> Produced:
    """Send every message, then wait for every acknowledgement.

    The ends come from the acknowledgements: the embedded broker (Tansu) answers ListOffsets(latest)
    with the base offset of the partition's last record batch, short of the real end by up to a batch.
    """
    producer = await start_producer(kafka_setup(settings))
    try:
        started = time.perf_counter()
        sends = [await producer.send(topic, value, key=key) for key, value in batch]
        acks = await asyncio.gather(*sends)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    ends: dict[int, int] = {}
    for ack in acks:
        ends[ack.partition] = max(ends.get(ack.partition, 0), ack.offset + 1)
    return Produced(seconds, ends)


async def consume(settings: Settings, topic: str, n: int) -> float:
    """Read `n` messages from the start of every partition; seconds from the first fetch to the last."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, started = 0, time.perf_counter()
        while seen < n:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in fetched.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def load(settings: Settings, n: int) -> RawRates:
    """In the load process: produce `n` messages to the measurement's topic, then read them back."""
    batch = messages(n)
    cpu_started = time.process_time()
    produce_s = asyncio.run(produce(settings, settings.events_topic_test, batch)).seconds
    cpu_produced = time.process_time()
    consume_s = asyncio.run(consume(settings, settings.events_topic_test, n))
    cpu_consumed = time.process_time()
    return RawRates(n / produce_s, n / consume_s, n, sum(len(v) for _, v in batch) // n,
                    (cpu_produced - cpu_started) * 1e6 / n, (cpu_consumed - cpu_produced) * 1e6 / n)


async def measure(settings: Settings, n: int) -> RawRates:
    return await in_load_process(load, await isolated(settings, "raw"), n)
