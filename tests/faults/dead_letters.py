"""Reading the dead-letter topic back, for fault tests: each letter's bytes with its headers."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from meterflow.settings import Settings


async def read_dead_letters(settings: Settings, n: int, timeout_s: float = 60) -> list[dict[str, object]]:
    """The first `n` letters of the test's dead-letter topic; fails if fewer arrive within the deadline."""
    consumer = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    letters: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(letters) < n:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    letters += [{"value": r.value, **{k: v.decode() for k, v in r.headers}} for r in records]
    finally:
        await consumer.stop()
    return letters
