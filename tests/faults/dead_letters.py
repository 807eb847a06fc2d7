"""Reading the dead-letter topic back, for fault tests: each letter's bytes with its headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer

from meterflow.settings import Settings

Letter = dict[str, object]


async def _polls(settings: Settings) -> AsyncIterator[list[Letter]]:
    """The letters of each poll of the test's dead-letter topic, from its beginning (an empty list when a
    poll of half a second found nothing new)."""
    consumer = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while True:
            yield [{"value": r.value, **{k: v.decode() for k, v in r.headers}}
                   for records in (await consumer.getmany(timeout_ms=500)).values() for r in records]
    finally:
        await consumer.stop()


async def read_dead_letters(settings: Settings, n: int, timeout_s: float = 60) -> list[Letter]:
    """The first `n` letters; fails if fewer arrive within the deadline."""
    letters: list[Letter] = []
    async with asyncio.timeout(timeout_s):
        async for polled in _polls(settings):
            letters += polled
            if len(letters) >= n:
                return letters
    raise AssertionError("unreachable: the polls never end")


async def all_dead_letters(settings: Settings, timeout_s: float = 60) -> list[Letter]:
    """Every letter in the topic. Call it once the processor has committed every offset: a batch's
    letters are acknowledged before its offsets are committed, so none can arrive later. Two empty polls
    in a row end the read (the first poll may come back empty while the consumer still fetches)."""
    letters: list[Letter] = []
    empty_polls = 0
    async with asyncio.timeout(timeout_s):
        async for polled in _polls(settings):
            empty_polls = 0 if polled else empty_polls + 1
            if empty_polls == 2:
                return letters
            letters += polled
    raise AssertionError("unreachable: the polls never end")
