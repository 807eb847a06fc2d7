"""The dead-letter topic read back for ops (the console's dead-letters page): the newest letters of one
events topic.

Read with a consumer of no group (nothing is committed, no group joins or rebalances), from a little before
the end of each partition to the end. The end offsets are only a starting point: the embedded broker
answers them with the start of a partition's last batch, so the read goes on until a poll finds nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from meterflow.domain.errors import Unavailable
from meterflow.domain.records import LetterOnTopic
from meterflow.logs import REQUEST_ID_HEADER

QUIET_MS = 300  # a poll this long that reads nothing: the end of the topic
READ_TIMEOUT_S = 10.0


def _number(header: str | None) -> int:
    """-1 for a header that is missing or not a number (a letter written by hand)."""
    return int(header) if header and header.isdigit() else -1


def _letter(record: Any) -> LetterOnTopic:
    headers = {name: bytes(value).decode(errors="replace") for name, value in record.headers or ()}
    return LetterOnTopic(headers.get("source_topic", ""), _number(headers.get("source_partition")),
                         _number(headers.get("source_offset")), headers.get("category", ""),
                         headers.get("reason", ""), headers.get(REQUEST_ID_HEADER),
                         record.key, record.value or b"", datetime.fromtimestamp(record.timestamp / 1000, UTC))


class KafkaDeadLetterReader:
    def __init__(self, servers: str, topic: str) -> None:
        self._servers = servers
        self._topic = topic

    async def newest(self, source_topic: str, limit: int) -> list[LetterOnTopic]:
        """At most `limit` letters of records from `source_topic`, the newest first (of the last `limit`
        letters of each partition, whatever their source). A broker that does not answer within
        `READ_TIMEOUT_S` is `Unavailable`: a page must not hang on it."""
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                return await self._newest(source_topic, limit)
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable(f"the dead-letter topic could not be read ({type(exc).__name__})") from exc

    async def _newest(self, source_topic: str, limit: int) -> list[LetterOnTopic]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._servers, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            if not partitions:
                return []
            consumer.assign(partitions)
            starts, ends = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(starts[tp], ends[tp] - limit))
            letters = []
            while batch := await consumer.getmany(timeout_ms=QUIET_MS, max_records=10_000):
                letters += [_letter(r) for records in batch.values() for r in records]
        finally:
            await consumer.stop()
        mine = [letter for letter in letters if letter.source_topic == source_topic]
        mine.sort(key=lambda letter: letter.dead_lettered_at, reverse=True)
        return mine[:limit]

    async def _partitions(self, consumer: Any) -> list[TopicPartition]:
        await consumer.topics()  # fetches the cluster's metadata, the topic's partitions with it
        return [TopicPartition(self._topic, p) for p in sorted(consumer.partitions_for_topic(self._topic) or ())]
