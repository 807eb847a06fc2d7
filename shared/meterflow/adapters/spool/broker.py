"""What the spool's forwarder asks of Kafka: produce (acks=all) and learn each record's position, read the
processor group's committed offsets, and check that a record it produced is still where it was put.

The last is how a broker that lost data is noticed (an embedded broker restarted, with topics in memory
only; a cluster rebuilt; an unclean leader election): offsets are reused from where the log was cut, so
a committed offset is evidence about our record only while our record is still at its offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from meterflow.adapters.kafka_publisher import Outgoing, produce
from meterflow.domain.records import DELIVERY_ID_HEADER

CALL_TIMEOUT_S = 10.0


class SpoolBroker:
    """`connected`: done once `producer` is started (the gateway may start while Kafka is away); until
    then every call fails like a broker away, and the forwarder retries."""

    def __init__(self, producer: AIOKafkaProducer, bootstrap_servers: str, processor_group: str,
                 connected: asyncio.Future[None] | None = None) -> None:
        # The reader assigns the one partition it checks, several times a second under load; aiokafka logs
        # every assignment at INFO.
        logging.getLogger("aiokafka.consumer.subscription_state").setLevel(logging.WARNING)
        self._producer, self._connected = producer, connected
        self._servers, self._group = bootstrap_servers, processor_group
        self._consumer: AIOKafkaConsumer | None = None

    def _check_connected(self) -> None:
        if self._connected is not None and not self._connected.done():
            raise KafkaConnectionError("the event log has not been reachable since the gateway started")

    async def produce(self, topic: str, records: Sequence[Outgoing]) -> list[tuple[int, int]]:
        self._check_connected()
        return await produce(self._producer, topic, records)

    async def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The processor group's next offset to read per partition (0 where it committed none). Read by a
        consumer of the group that never subscribes, so it never joins the group or rebalances it."""
        self._check_connected()
        consumer = await self._reader()
        return {tp: await asyncio.wait_for(consumer.committed(tp), CALL_TIMEOUT_S) or 0 for tp in partitions}

    async def holds(self, tp: TopicPartition, offset: int, delivery_id: str) -> bool:
        """Whether the record at `offset` is the one we produced with `delivery_id` (False also when the
        partition ends before it, as it does after a broker lost its log)."""
        consumer = await self._reader()
        if consumer.assignment() != {tp}:
            consumer.assign([tp])
        consumer.seek(tp, offset)
        found = await consumer.getmany(tp, timeout_ms=1_000, max_records=1)
        records = found.get(tp, [])
        if not records or records[0].offset != offset:
            return False
        headers = dict(records[0].headers or ())
        return bytes(headers.get(DELIVERY_ID_HEADER, b"")).decode(errors="replace") == delivery_id

    async def _reader(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._servers, group_id=self._group,
                                        enable_auto_commit=False, auto_offset_reset="latest")
            try:
                await asyncio.wait_for(consumer.start(), CALL_TIMEOUT_S)
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
