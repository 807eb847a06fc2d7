"""The spool's forwarder: produces spooled batches to Kafka in spool order, then keeps each until it is
known to be counted, producing it again if the broker lost it.

Order: one round at a time, each round every waiting batch (up to a cap) in sequence order, one Kafka
batch per partition; a round that fails is produced again whole, after a backoff. So the records of one
partition key reach Kafka in the order they were acknowledged, even across outages.

Known to be counted (docs/spool.md): the processor commits a partition's offset only once every record
before it is counted or dead-lettered, durably (docs/exactly-once.md). A produced event is settled once
the processor group's committed offset of its partition is past its offset, *and* the broker still holds
our records there: before settling anything in a partition, the forwarder reads the committed offset,
then checks that the records at the lowest and highest offsets it is waiting on are still its own (their
delivery-id headers). A broker loses a log whole (memory-only) or from some offset on (a truncation),
and reuses offsets after that; if both ends are still ours, so is everything between, and the committed
offset, read before, speaks of them. If either is not, every waiting batch with an event in that
partition is produced again, ahead of newer batches. A record counted before the loss is then
`recounted` by the processor (its delivery id is the origin on its mark), never counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from time import monotonic
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from meterflow.adapters.kafka import GATEWAY_SOURCE
from meterflow.adapters.kafka_publisher import Outgoing
from meterflow.adapters.spool.frames import SpooledBatch
from meterflow.domain.modes import Mode
from meterflow.domain.records import DELIVERY_ID_HEADER
from meterflow.logs import REQUEST_ID_HEADER

log = logging.getLogger(__name__)
ROUND_EVENTS = 50_000
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)
# A partition whose committed offset has not reached our oldest record for this long is checked anyway:
# after a broker lost everything, the new committed offset may never reach our old positions.
STALE_AFTER_S = 10.0
_FAILURES = (KafkaError, OSError, TimeoutError)


@dataclass
class Delivery:
    batch: SpooledBatch
    forwarded: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # Once produced: per partition, the lowest and highest (offset, event index) of its events there. All
    # the confirmation needs, computed once (it runs every second over everything waiting).
    spans: dict[int, tuple[tuple[int, int], tuple[int, int]]] | None = None
    produced_at: float = 0.0
    settled: bool = False

    def delivery_id(self, spool_id: str, index: int) -> str:
        return f"{spool_id}.{self.batch.first_seq + index}"

    def produced_at_positions(self, positions: Sequence[tuple[int, int]]) -> None:
        """Offsets grow with the index within a partition (one round, in order): a partition's first
        event is its lowest, its last the highest."""
        first: dict[int, tuple[int, int]] = {}
        last: dict[int, tuple[int, int]] = {}
        for index, (partition, offset) in enumerate(positions):
            if partition not in first:
                first[partition] = (offset, index)
            last[partition] = (offset, index)
        self.spans = {partition: (low, last[partition]) for partition, low in first.items()}
        self.produced_at = monotonic()

    def stop_waiting(self, forwarded: bool) -> None:
        if not self.forwarded.done():
            self.forwarded.set_result(forwarded)


class ForwardingBroker(Protocol):
    """What the forwarder asks of Kafka (`broker.py`'s `SpoolBroker`; unit tests hand in a fake)."""

    async def produce(self, topic: str, records: Sequence[Outgoing]) -> list[tuple[int, int]]: ...

    async def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]: ...

    async def holds(self, tp: TopicPartition, offset: int, delivery_id: str) -> bool: ...


class Forwarder:
    def __init__(self, broker: ForwardingBroker, spool_id: str, topics: dict[Mode, str],
                 settled: Callable[[], Awaitable[None]], confirm_interval_s: float, slow_after_s: float,
                 stale_after_s: float = STALE_AFTER_S) -> None:
        self._broker, self._spool_id, self._topics = broker, spool_id, topics
        self._stale_after_s = stale_after_s
        self._settled, self._confirm_interval_s, self._slow_after_s = settled, confirm_interval_s, slow_after_s
        self.pending: deque[Delivery] = deque()
        self.produced: deque[Delivery] = deque()
        self._failing = False
        self._round_started: float | None = None
        self._wake = asyncio.Event()
        # Held by a produce round from taking batches to filing them as produced, and by the confirmation
        # while it moves batches back to be produced again: never in the middle of a round.
        self._round = asyncio.Lock()
        self._checked_at: dict[TopicPartition, float] = {}

    @property
    def healthy(self) -> bool:
        """Kafka takes what we produce: the last round succeeded and the one in flight is not slow. A
        broker that went away is noticed by the client only after its request timeout; until then, a
        round in flight for longer than `slow_after_s` counts as failing."""
        started = self._round_started
        return not self._failing and (started is None or monotonic() - started < self._slow_after_s)

    def enqueue(self, batch: SpooledBatch) -> Delivery:
        delivery = Delivery(batch)
        self.pending.append(delivery)
        self._wake.set()
        return delivery

    def unsettled_events(self) -> int:
        return sum(len(d.batch.events) for d in (*self.pending, *self.produced) if not d.settled)

    def settled_before(self, next_seq: int) -> int:
        """The highest sequence up to which every event is settled (`next_seq`: the next one to append)."""
        unsettled = [d.batch.first_seq for d in (*self.produced, *self.pending) if not d.settled]
        return min(unsettled, default=next_seq) - 1

    async def run(self) -> None:
        """Forward and confirm side by side: reading offsets and records back can take seconds, and
        requests must not wait for it."""
        await asyncio.gather(self._forward(), self._confirm_forever())

    async def _forward(self) -> None:
        failures = 0
        while True:
            if not self.pending:
                await self._sleep(self._confirm_interval_s)
                continue
            self._round_started = monotonic()
            try:
                async with self._round:
                    await self._produce_round()
                failures = 0
                self._failing = False
            except Exception as exc:  # anything: the events are safe on disk, and forwarding must go on
                if not isinstance(exc, _FAILURES):
                    log.exception("spool: forwarding failed unexpectedly; retrying")
                elif not self._failing:
                    log.warning("spool: the event log is away (%s); keeping events on disk", type(exc).__name__)
                self._failing = True
                for delivery in self.pending:
                    delivery.stop_waiting(False)
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])  # not woken by new batches
                failures += 1
            finally:
                self._round_started = None

    async def _confirm_forever(self) -> None:
        while True:
            await asyncio.sleep(self._confirm_interval_s)
            if not self.produced:
                continue
            try:
                await self._confirm()
            except _FAILURES as exc:
                log.warning("spool: could not learn what is counted (%s)", type(exc).__name__)
            except Exception:
                log.exception("spool: learning what is counted failed unexpectedly; trying again later")

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _produce_round(self) -> None:
        taken: list[Delivery] = []
        events = 0
        for delivery in self.pending:
            if taken and events + len(delivery.batch.events) > ROUND_EVENTS:
                break
            taken.append(delivery)
            events += len(delivery.batch.events)
        by_mode: dict[Mode, list[Delivery]] = defaultdict(list)
        for delivery in taken:
            by_mode[delivery.batch.mode].append(delivery)
        modes = list(by_mode)
        answers = await asyncio.gather(*(self._broker.produce(self._topics[mode], self._records(by_mode[mode]))
                                         for mode in modes))
        for mode, positions in zip(modes, answers, strict=True):
            at = 0
            for delivery in by_mode[mode]:
                delivery.produced_at_positions(positions[at:at + len(delivery.batch.events)])
                at += len(delivery.batch.events)
        for delivery in taken:
            self.pending.popleft()
            self.produced.append(delivery)
            delivery.stop_waiting(True)

    def _records(self, deliveries: Iterable[Delivery]) -> list[Outgoing]:
        records = []
        prefix = f"{self._spool_id}.".encode()
        for delivery in deliveries:
            batch = delivery.batch
            request, received_ms = (REQUEST_ID_HEADER, batch.request_id.encode()), batch.received_ms
            records += [Outgoing(key, value, received_ms,
                                 [request, GATEWAY_SOURCE, (DELIVERY_ID_HEADER, b"%s%d" % (prefix, seq))])
                        for seq, (key, value) in enumerate(batch.events, batch.first_seq)]
        return records

    async def _confirm(self) -> None:
        waiting = [d for d in self.produced if not d.settled]
        ends: dict[TopicPartition, tuple[tuple[int, str], tuple[int, str]]] = {}
        oldest: dict[TopicPartition, float] = {}
        for delivery in waiting:
            topic = self._topics[delivery.batch.mode]
            for partition, ((low, low_index), (high, high_index)) in (delivery.spans or {}).items():
                tp = TopicPartition(topic, partition)
                ours = ((low, delivery.delivery_id(self._spool_id, low_index)),
                        (high, delivery.delivery_id(self._spool_id, high_index)))
                known = ends.get(tp, ours)
                ends[tp] = (min(known[0], ours[0]), max(known[1], ours[1]))
                oldest[tp] = min(oldest.get(tp, delivery.produced_at), delivery.produced_at)
        committed = await self._broker.committed(ends)  # read before the checks below (see the docstring)
        trusted: set[TopicPartition] = set()
        lost: set[TopicPartition] = set()
        for tp, (first, last) in ends.items():
            stale_after = self._stale_after_s
            if committed[tp] <= first[0] and (monotonic() - oldest[tp] < stale_after
                                              or monotonic() - self._checked_at.get(tp, 0.0) < stale_after):
                continue  # nothing to settle here yet, and not stale (or checked lately)
            self._checked_at[tp] = monotonic()
            if await self._broker.holds(tp, *first) and (last == first or await self._broker.holds(tp, *last)):
                trusted.add(tp)
            else:
                lost.add(tp)
        async with self._round:  # `produced` only grew since `waiting` was taken: nothing in it moved
            for delivery in waiting:
                topic = self._topics[delivery.batch.mode]
                spans = (delivery.spans or {}).items()
                if all(TopicPartition(topic, partition) in trusted and top < committed[TopicPartition(topic, partition)]
                       for partition, (_, (top, _)) in spans):
                    delivery.settled = True
            if lost:
                self._produce_again(lost)
        await self._advance()

    def _produce_again(self, lost: set[TopicPartition]) -> None:
        """Every waiting batch with an event in a partition the broker lost goes back ahead of the newer
        batches, in sequence order."""
        log.warning("spool: the event log lost records of %s; producing them again",
                    ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(lost)))
        again: list[Delivery] = []
        kept: deque[Delivery] = deque()
        for delivery in self.produced:
            topic = self._topics[delivery.batch.mode]
            if not delivery.settled and any(TopicPartition(topic, p) in lost for p in delivery.spans or {}):
                delivery.spans = None
                again.append(delivery)
            else:
                kept.append(delivery)
        self.produced = kept
        self.pending.extendleft(reversed(again))
        self._wake.set()

    async def _advance(self) -> None:
        """Forget the settled batches at the head, and let the spool free what they held."""
        advanced = False
        while self.produced and self.produced[0].settled:
            self.produced.popleft()
            advanced = True
        if advanced:
            await self._settled()

