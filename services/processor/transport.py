"""Faust's Kafka transport, with records pulled in batches and offsets committed as batches settle.

Faust's worker consumer hands every record, one at a time, through its Conductor to a stream's queue,
wrapping each in a task race (`wait_first`), an Event and per-message ack bookkeeping; profiled, that
machinery took over half of the processor's CPU (docs/processor-design.md). Here the Fetcher's drain
loop is idle and the agent pulls whole fetches instead (`BatchConsumer.take`), with the checks of Faust's
`getmany` (no records while a rebalance is under way, none of a partition no longer active) and records
built straight from aiokafka's as the use case's `Record`. Everything else stays Faust's: the group
membership and rebalancing, the commit timer, the commit at revocation and at stop, the web server and
the sensors.

**The commit rule.** `settled(batch)` is called only once the batch's effect is durable (counted or
dead-lettered, on record); only then may the offset after each partition's last record be committed.
A revocation waits for the batch in hand to settle (as Faust waits for unacked messages), then commits.

Faust also hard-codes `fetch_max_wait_ms=1500` for its worker consumer. A broker that holds a fetch for
the whole wait instead of answering when data arrives (the embedded Tansu does) turns that into up to
1.5 s of ingest-to-usage latency. `MF_PROCESSOR_FETCH_MAX_WAIT_MS` bounds it; on Apache Kafka a fetch
returns as soon as data is there, so a short wait costs only a few more empty fetches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from time import monotonic
from typing import Any

import aiokafka
import faust
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from meterflow.adapters.kafka import GATEWAY_SOURCE
from meterflow.domain.records import Record
from meterflow.logs import REQUEST_ID_HEADER


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts (its Fetcher is built in start()).
        app = self.app
        assert isinstance(app, ProcessorApp)
        consumer._fetch_max_wait_ms = app.fetch_max_wait_ms
        return consumer


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, read a fetch at a time by the agent instead of a record at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settled: dict[TP, int] = {}  # partition → the next offset to commit (all before it settled)
        self._in_hand = 0  # batches taken and not yet settled
        self._idle = asyncio.Event()
        self._idle.set()

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's per-record drain loop stays idle: the agent pulls (`take`)."""
        await fetcher.wait_until_stopped()

    async def take(self, timeout_s: float) -> list[Record]:
        """The records of one fetch (at most `broker_max_poll_records`), waiting up to `timeout_s` for
        some. The batch is in hand until `settled`: a revocation waits for it.

        The checks of Faust's `getmany`, without its per-record `ConsumerMessage` and generator: no
        records while the flow is stopped (a rebalance under way: what was fetched is read again after
        a seek to the committed offsets, as Faust does), none of a partition no longer active."""
        fetched, active = await self._wait_next_records(timeout_s)
        if not fetched or self.should_stop:
            return []
        if not self.flow_active:
            await self.perform_seek()
            return []
        batch: list[Record] = []
        for tp, records in fetched.items():
            if active is None or tp in active or tp in self._buffered_partitions:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                batch += map(_record, records)
        if batch:
            self._in_hand += 1
            self._idle.clear()
        return batch

    def settled(self, batch: Sequence[Record]) -> None:
        """The batch's effect is durable, and so is every batch taken before it (the caller settles
        batches in the order taken): its offsets may be committed (by Faust's commit timer, at a
        revocation, at stop)."""
        inbound = monotonic()
        for tp, offset in _last_offsets(batch):
            self._settled[tp] = max(offset + 1, self._settled.get(tp, 0))
            # Faust's livelock detector reads when a partition's stream last took a record.
            self.app.monitor.stream_inbound_time[tp] = inbound
        self._in_hand -= 1
        if not self._in_hand:
            self._idle.set()

    def dropped(self) -> None:
        """A batch in hand will never settle (its task was cancelled at stop): read again after a restart."""
        self._in_hand -= 1
        if not self._in_hand:
            self._idle.set()

    async def wait_empty(self) -> None:
        """At a revocation: let the batches in hand settle before Faust commits and hands partitions over.
        At stop Faust does not wait (nor do we): an unsettled batch is simply read again."""
        if not self.should_stop:
            await self._idle.wait()
        await super().wait_empty()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await super().on_partitions_revoked(revoked)  # commits what settled (wait_empty) first
        for tp in revoked:
            self._settled.pop(tp, None)

    # Faust's commit path asks these two which offsets are ready: ours are the settled batches'.
    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        return (tp for tp in list(self._settled) if topics is None or tp in topics or tp.topic in topics)

    def _new_offset(self, tp: TP) -> int | None:
        return self._settled.pop(tp, None)


def _record(record: ConsumerRecord[bytes, bytes]) -> Record:
    headers = dict(record.headers or ())
    request_id = headers.get(REQUEST_ID_HEADER)
    # The received time as Faust's messages gave it (seconds as a float, back to milliseconds): a record
    # read again after an upgrade gets the same received time, so the same origin when it had no timestamp.
    return Record(record.topic, record.partition, record.offset, int(record.timestamp / 1000.0 * 1000),
                  record.key, record.value, bytes(request_id).decode(errors="replace") if request_id else None,
                  headers.get(GATEWAY_SOURCE[0]) == GATEWAY_SOURCE[1])


def _last_offsets(batch: Sequence[Record]) -> Iterator[tuple[TP, int]]:
    last: dict[tuple[str, int], int] = {}
    for record in batch:
        key = record.topic, record.partition
        last[key] = max(record.offset, last.get(key, -1))
    return ((TP(topic, partition), offset) for (topic, partition), offset in last.items())


class _Transport(faust_aiokafka.Transport):
    Consumer = BatchConsumer


class ProcessorApp(faust.App):
    """A Faust app whose consumer fetch wait is ours to set, and whose consumer is read in batches."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)

    @property
    def batch_consumer(self) -> BatchConsumer:
        consumer = self.consumer
        assert isinstance(consumer, BatchConsumer)
        return consumer
