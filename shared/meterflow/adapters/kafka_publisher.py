"""Publishing events to their mode's topic in Kafka batches, keyed and partitioned by customer_id.

Partitioned with Kafka's default (murmur2) partitioner, exactly as a direct producer keying by
customer_id would, so one customer's events keep one order whichever way they come in. One batch per
partition per call: a send per event would make the client, not the broker, the bottleneck. The answer
is each record's (partition, offset), which the spool needs to learn when a record is counted.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import RecordMetadata

from meterflow.adapters.kafka import GATEWAY_SOURCE
from meterflow.domain.errors import Unavailable
from meterflow.domain.events import Event, event_to_json
from meterflow.domain.modes import Mode
from meterflow.logs import REQUEST_ID_HEADER, request_id

Headers = list[tuple[str, bytes]]


class Outgoing(NamedTuple):
    """One record to produce: customer id (the key), the event's JSON, the received time, headers (a tuple:
    made once per event on the hot path, the cheapest object to make)."""

    key: bytes
    value: bytes
    timestamp_ms: int
    headers: Headers


async def produce(producer: AIOKafkaProducer, topic: str, records: Sequence[Outgoing]) -> list[tuple[int, int]]:
    """Every record acknowledged (acks=all), in order per partition; each one's (partition, offset).

    The records are sorted by partition first, then each partition's are appended to its batches in one
    tight loop: one batch builder per batch (not one made and dropped per record), one send per batch."""
    partitions = sorted(await producer.partitions_for(topic))
    by_partition: defaultdict[int, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        by_partition[partitions[_key_hash(record.key) % len(partitions)]].append(index)
    sends: list[tuple[int, list[int], asyncio.Future[RecordMetadata]]] = []
    for partition, indexes in by_partition.items():
        builder, members = producer.create_batch(), list[int]()
        for index in indexes:
            key, value, timestamp_ms, headers = records[index]
            if builder.append(key=key, value=value, timestamp=timestamp_ms, headers=headers) is None:
                sends.append((partition, members, await producer.send_batch(builder, topic, partition=partition)))
                builder, members = producer.create_batch(), []
                builder.append(key=key, value=value, timestamp=timestamp_ms, headers=headers)
            members.append(index)
        sends.append((partition, members, await producer.send_batch(builder, topic, partition=partition)))
    metadata = await asyncio.gather(*(future for _, _, future in sends))
    positions = [(0, 0)] * len(records)
    for (partition, indexes, _), sent in zip(sends, metadata, strict=True):
        base = sent.offset
        for n, index in enumerate(indexes):
            positions[index] = (partition, base + n)
    return positions


def outgoing(events: Sequence[Event], received_at: datetime, headers: Headers) -> list[Outgoing]:
    timestamp_ms = int(received_at.timestamp() * 1000)
    return [Outgoing(e.customer_id.encode(), event_to_json(e), timestamp_ms, headers) for e in events]


class KafkaPublisher:
    """Ingest's publisher without a spool (`MF_SPOOL_ENABLED=false`): acknowledged means acknowledged by
    the broker (acks=all), and a broker away is a 503."""

    def __init__(self, producer: AIOKafkaProducer, topics: dict[Mode, str]) -> None:
        self._producer, self._topics = producer, topics

    async def publish(self, mode: Mode, events: Sequence[Event], received_at: datetime) -> None:
        headers = [(REQUEST_ID_HEADER, (request_id.get() or "").encode()), GATEWAY_SOURCE]
        try:
            await produce(self._producer, self._topics[mode], outgoing(events, received_at, headers))
        except KafkaError as exc:
            raise Unavailable(f"The event log did not acknowledge the batch ({type(exc).__name__}); "
                              "retry it: events are deduplicated by idempotency_key") from None


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    """Kafka's default partitioner hash (aiokafka's DefaultPartitioner: murmur2, positive), remembered:
    it runs in Python, and one customer sends many events."""
    hashed: int = murmur2(key)
    return hashed & 0x7FFFFFFF
