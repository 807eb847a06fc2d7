"""Kafka adapter: topic creation and the producer the gateway publishes through.

The broker CI runs on (Tansu) has no idempotent producer, so `acks="all"` plus the processor's own
dedupe is what makes a retried publish harmless (docs/exactly-once.md).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from meterflow.settings import Settings


def meterflow_topics(settings: Settings) -> list[str]:
    return [settings.events_topic_test, settings.events_topic_live, settings.dlq_topic]


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the events and DLQ topics if missing (safe to call from every process at start)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await _start_with_retry(admin.start, timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
                   for name in meterflow_topics(settings) if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def _start_with_retry(start: object, timeout_s: float) -> None:
    """The broker may still be coming up (compose starts everything at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await start()  # type: ignore[operator]
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def start_producer(settings: Settings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all", linger_ms=2,
                                max_batch_size=1 << 20, max_request_size=4 << 20)
    await _start_with_retry(producer.start, 30.0)
    return producer
