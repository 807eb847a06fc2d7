"""What the spool's integration tests share: topics and a processor group of their own on the session's
broker, a spool on them, the topic read back, and the processor's commit played by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from meterflow.adapters.kafka import ensure_topics, start_producer
from meterflow.adapters.spool.broker import SpoolBroker
from meterflow.adapters.spool.spool import Spool, SpoolOptions, claim
from meterflow.clock import SystemClock
from meterflow.domain.events import Event
from meterflow.domain.modes import Mode
from meterflow.domain.records import DELIVERY_ID_HEADER
from meterflow.settings import Settings
from services.wiring import kafka_setup
from tests.support import unique

NOW = datetime.now(UTC)


async def own_topics(settings: Settings) -> Settings:
    tag = unique("s")[:14]
    mine = settings.model_copy(update={
        "events_topic_test": f"{tag}.events.test", "events_topic_live": f"{tag}.events.live",
        "dlq_topic": f"{tag}.events.dlq", "processor_id": f"{tag}-processor"})
    await ensure_topics(kafka_setup(mine))
    return mine


def events(prefix: str, n: int, customers: int = 5) -> list[Event]:
    return [Event(event_name="tokens", customer_id=f"cus_{i % customers}", idempotency_key=f"{prefix}-{i}",
                  timestamp=NOW, properties={"n": i}) for i in range(n)]


@asynccontextmanager
async def producer_for(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = await start_producer(kafka_setup(settings))
    try:
        yield producer
    finally:
        await producer.stop()


@asynccontextmanager
async def spool_on(settings: Settings, directory: Path, producer: AIOKafkaProducer,
                   segment_bytes: int = 1 << 20, confirm_interval_s: float = 0.2) -> AsyncIterator[Spool]:
    claimed, lock = claim(directory)
    spool = Spool(claimed, lock, SpoolBroker(producer, settings.kafka_servers, settings.processor_id),
                  {mode: settings.events_topic(mode) for mode in Mode},
                  SpoolOptions(1 << 26, segment_bytes, forward_wait_s=10, confirm_interval_s=confirm_interval_s),
                  SystemClock())
    await spool.open()
    try:
        yield spool
    finally:
        await spool.close(drain_s=5)


@dataclass(frozen=True)
class Read:
    key: bytes
    idempotency_key: str
    delivery_id: str | None
    partition: int
    offset: int


async def read_topic(settings: Settings, mode: Mode = Mode.TEST) -> list[Read]:
    """Every record of the mode's topic, by partition then offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        topic = settings.events_topic(mode)
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[Read] = []
        while batch := await consumer.getmany(timeout_ms=1500):
            for records in batch.values():
                for r in records:
                    headers = dict(r.headers or ())
                    delivery = headers.get(DELIVERY_ID_HEADER)
                    found.append(Read(r.key or b"", Event.model_validate_json(r.value or b"{}").idempotency_key,
                                      bytes(delivery).decode() if delivery else None, r.partition, r.offset))
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def commit_as_processor(settings: Settings, ends: dict[tuple[str, int], int]) -> None:
    """What the processor does once it counted everything before `ends`: commit its group's offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, group_id=settings.processor_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        offsets = {TopicPartition(topic, partition): end for (topic, partition), end in ends.items()}
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
