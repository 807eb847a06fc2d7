"""Kafka adapter: topic creation and the producer the gateway publishes through.

The broker CI runs on (Tansu) has no idempotent producer, so `acks="all"` plus the processor's own
dedupe is what makes a retried publish harmless (docs/exactly-once.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

# The header the gateway writes on every record it publishes: the event was acknowledged over HTTP, and
# tallied as acknowledged there (docs/accounting.md). Reserved: a direct producer must not write it.
GATEWAY_SOURCE: tuple[str, bytes] = ("meterflow_source", b"gateway")


@dataclass(frozen=True)
class KafkaSetup:
    """Where meterflow's topics live and how they are created: what every call here needs, given by each
    process's composition root (never the whole settings object)."""

    servers: str
    events_topics: tuple[str, ...]  # one per mode
    dlq_topic: str
    partitions: int
    replication_factor: int
    processor_group: str  # the processor's consumer group, whose progress `unprocessed` reads

    @property
    def topics(self) -> list[str]:
        return [*self.events_topics, self.dlq_topic]


async def ensure_topics(kafka: KafkaSetup, timeout_s: float = 30.0) -> None:
    """Create the events and DLQ topics if missing (safe to call from every process at start)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.servers)
    await _start_with_retry(admin.start, timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, kafka.partitions, kafka.replication_factor)
                   for name in kafka.topics if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def missing_topics(kafka: KafkaSetup) -> list[str]:
    """Which of meterflow's topics the broker does not have (a restarted embedded broker has none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.servers, request_timeout_ms=5_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [name for name in kafka.topics if name not in existing]


async def _start_with_retry(start: Callable[[], Awaitable[None]], timeout_s: float) -> None:
    """The broker may still be coming up (compose starts everything at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await start()
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


def new_producer(kafka: KafkaSetup) -> AIOKafkaProducer:
    """Not started: `start_producer` or `connect_when_reachable` starts it."""
    return AIOKafkaProducer(bootstrap_servers=kafka.servers, acks="all", linger_ms=2,
                            max_batch_size=1 << 20, max_request_size=4 << 20)


async def start_producer(kafka: KafkaSetup) -> AIOKafkaProducer:
    producer = new_producer(kafka)
    await _start_with_retry(producer.start, 30.0)
    return producer


async def connect_when_reachable(kafka: KafkaSetup, producer: AIOKafkaProducer) -> None:
    """Ensure the topics and start `producer`, however long the broker takes to be reachable: a gateway with
    a spool starts, and takes events, while Kafka is away."""
    while True:
        try:
            await ensure_topics(kafka)
            await _start_with_retry(producer.start, 30.0)
            return
        except Exception as exc:
            log.warning("Kafka not reachable yet (%s); events wait in the spool", type(exc).__name__)


def events_partitions(kafka: KafkaSetup) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for topic in kafka.events_topics for p in range(kafka.partitions)]


async def last_offsets(kafka: KafkaSetup) -> dict[TopicPartition, int]:
    """Next offset after the last record of each events-topic partition, found by reading them all.

    Not `end_offsets()`: the embedded broker answers ListOffsets(latest) with the start of the last
    batch it received, so a group could look drained while records remain. Reading is cheap at the
    sizes a drain or a test sees.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = events_partitions(kafka)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = dict.fromkeys(partitions, 0)
        while batch := await consumer.getmany(timeout_ms=1000, max_records=50_000):
            for tp, records in batch.items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)
        return ends
    finally:
        await consumer.stop()


async def unprocessed(kafka: KafkaSetup, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Records up to `ends` the processor group has not committed yet, per partition (empty = drained)."""
    # Asked through a consumer of the group that never subscribes (so it never joins or rebalances);
    # the admin client's group-offsets call is not understood by the embedded broker.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.servers, group_id=kafka.processor_group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        left = {tp: end - (await consumer.committed(tp) or 0) for tp, end in ends.items() if end}
        return {tp: n for tp, n in left.items() if n > 0}
    finally:
        await consumer.stop()


class GroupOffsets:
    """The processor group's committed offsets, read by a consumer of the group that never subscribes (so
    it never joins the group or rebalances it), kept open between reads (the hot-mark sweep asks every
    few minutes). The admin client's group-offsets call is not understood by the embedded broker."""

    def __init__(self, kafka: KafkaSetup) -> None:
        self._kafka = kafka
        self._consumer: AIOKafkaConsumer | None = None

    async def committed(self, partitions: Collection[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The next offset the group reads in each (topic, partition), 0 where it committed none."""
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._kafka.servers, group_id=self._kafka.processor_group,
                                        enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        return {(topic, partition): await self._consumer.committed(TopicPartition(topic, partition)) or 0
                for topic, partition in partitions}

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
