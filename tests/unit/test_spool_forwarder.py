"""The spool's forwarder with an in-memory broker (a fake of its port; tests/integration/
test_spool_forwarding.py runs the same paths on the real broker).

What must hold (docs/spool.md): records reach Kafka in spool order, each with its delivery id; a failed
round is produced again whole, still in order; an event is settled only once the processor group's
committed offset is past it *and* the broker still holds our records there; records a broker lost are
produced again with the same ids, ahead of newer batches, and nothing is settled on a reused offset.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from meterflow.adapters.kafka_publisher import Outgoing
from meterflow.adapters.spool.forwarder import Forwarder
from meterflow.adapters.spool.frames import SpooledBatch
from meterflow.domain.modes import Mode
from meterflow.domain.records import DELIVERY_ID_HEADER
from tests.support import eventually

TOPIC = "events.test"


@dataclass
class MemoryBroker:
    """Two partitions of one topic, each a list of (key, delivery id); the processor group's offsets."""

    logs: dict[TopicPartition, list[tuple[bytes, str]]] = field(default_factory=dict)
    group: dict[TopicPartition, int] = field(default_factory=dict)
    away: bool = False

    async def produce(self, topic: str, records: Sequence[Outgoing]) -> list[tuple[int, int]]:
        if self.away:
            raise KafkaConnectionError("away")
        positions = []
        for record in records:
            tp = TopicPartition(topic, zlib.crc32(record.key) % 2)
            log = self.logs.setdefault(tp, [])
            log.append((record.key, dict(record.headers)[DELIVERY_ID_HEADER].decode()))
            positions.append((tp.partition, len(log) - 1))
        return positions

    async def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        if self.away:
            raise KafkaConnectionError("away")
        return {tp: self.group.get(tp, 0) for tp in partitions}

    async def holds(self, tp: TopicPartition, offset: int, delivery_id: str) -> bool:
        log = self.logs.get(tp, [])
        return offset < len(log) and log[offset][1] == delivery_id

    def count_everything(self) -> None:
        """What the processor does: count each partition to its end, and commit."""
        self.group = {tp: len(log) for tp, log in self.logs.items()}

    def ids(self) -> list[str]:
        return [delivery for tp in sorted(self.logs) for _, delivery in self.logs[tp]]


def batch(first_seq: int, keys: str) -> SpooledBatch:
    return SpooledBatch(Mode.TEST, first_seq, 0, "req", tuple((k.encode(), b"{}") for k in keys))


@dataclass
class Settled:
    calls: int = 0

    async def __call__(self) -> None:
        self.calls += 1


@asynccontextmanager
async def running(broker: MemoryBroker, settled: Settled | None = None) -> AsyncIterator[Forwarder]:
    forwarder = Forwarder(broker, "sp", {Mode.TEST: TOPIC, Mode.LIVE: "events.live"}, settled or Settled(),
                          confirm_interval_s=0.01, slow_after_s=1.0, stale_after_s=0.05)
    task = asyncio.create_task(forwarder.run())
    try:
        yield forwarder
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _idle(forwarder: Forwarder) -> bool:
    return not forwarder.pending


def in_order(broker: MemoryBroker) -> bool:
    """Within each partition, delivery ids (sequence numbers) only grow."""
    return all([int(d.split(".")[1]) for _, d in log] == sorted(int(d.split(".")[1]) for _, d in log)
               for log in broker.logs.values())


async def test_records_reach_kafka_in_spool_order_with_a_delivery_id_each() -> None:
    broker = MemoryBroker()
    async with running(broker) as forwarder:
        for first in (1, 4, 7):
            forwarder.enqueue(batch(first, "abc"))
        await eventually(lambda: _idle(forwarder), lambda idle: idle, timeout_s=5, interval_s=0.01)
    assert sorted(broker.ids()) == sorted(f"sp.{n}" for n in range(1, 10)) and in_order(broker)


async def test_while_kafka_is_away_nothing_is_lost_and_order_holds_when_it_is_back() -> None:
    broker = MemoryBroker(away=True)
    async with running(broker) as forwarder:
        first = forwarder.enqueue(batch(1, "ab"))
        assert await asyncio.wait_for(first.forwarded, 5) is False  # waiters are told not to wait
        assert not forwarder.healthy
        forwarder.enqueue(batch(3, "ab"))
        broker.away = False
        await eventually(lambda: _idle(forwarder), lambda idle: idle, timeout_s=10, interval_s=0.01)
        assert forwarder.healthy
    assert sorted(broker.ids()) == ["sp.1", "sp.2", "sp.3", "sp.4"] and in_order(broker)


async def test_an_event_is_settled_only_once_the_group_committed_past_it() -> None:
    broker, settled = MemoryBroker(), Settled()
    async with running(broker, settled) as forwarder:
        forwarder.enqueue(batch(1, "abcd"))
        await eventually(lambda: _idle(forwarder), lambda idle: idle, timeout_s=5, interval_s=0.01)
        await asyncio.sleep(0.1)  # several confirmation rounds: none may settle what is not committed
        assert forwarder.unsettled_events() == 4 and settled.calls == 0
        broker.count_everything()
        await eventually(lambda: asyncio.sleep(0, forwarder.unsettled_events()), lambda n: n == 0, timeout_s=5,
                         interval_s=0.01)
    assert settled.calls == 1 and forwarder.settled_before(next_seq=5) == 4


async def test_records_a_broker_lost_are_produced_again_with_their_ids_and_in_order() -> None:
    """The broker restarts empty and others' records fill the reused offsets, which the new group commits:
    nothing of ours may be settled on them; ours are produced again, in spool order, with their ids."""
    broker = MemoryBroker()
    async with running(broker) as forwarder:
        forwarder.enqueue(batch(1, "abcabc"))
        forwarder.enqueue(batch(7, "ab"))
        await eventually(lambda: _idle(forwarder), lambda idle: idle, timeout_s=5, interval_s=0.01)
        broker.logs = {tp: [(b"x", "other.1")] * len(log) for tp, log in broker.logs.items()}
        broker.count_everything()
        again = await eventually(lambda: asyncio.sleep(0, broker.ids()),
                                 lambda ids: sorted(i for i in ids if i.startswith("sp.")) == sorted(
                                     f"sp.{n}" for n in range(1, 9)), timeout_s=5, interval_s=0.01)
        assert forwarder.unsettled_events() == 8 and len(again) == 16
        assert in_order(MemoryBroker({tp: [r for r in log if r[1].startswith("sp.")]
                                      for tp, log in broker.logs.items()}))
        broker.count_everything()
        await eventually(lambda: asyncio.sleep(0, forwarder.unsettled_events()), lambda n: n == 0, timeout_s=5,
                         interval_s=0.01)
