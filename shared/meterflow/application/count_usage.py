"""Counting one batch of records: decode → validate → resolve customers and metrics → record late
events → count → put the counted events on record → dead-letter.

The one home of this use case, for any transport: the processor's Faust shell hands batches in, unit
tests hand in fakes of the ports. Nothing here acks or commits; the caller acks the batch only after
`CountUsage` returns, so an offset is never committed before the batch's effect (the usage counter's
transaction), its events on record and its dead letters are durable. A port that raises makes the whole call raise with
nothing acked; what happens next is the failure policy's decision (`failure_policy.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from meterflow.application.ports.usage import (
    CountingCatalog,
    DeadLetterSink,
    EventRecordWriter,
    LateEventStore,
    UsageCounter,
)
from meterflow.clock import Clock
from meterflow.domain.accounting import receipt_of
from meterflow.domain.counting import BatchOutcome, Contribution, CountableEvent
from meterflow.domain.errors import FieldError
from meterflow.domain.event_record import EventOnRecord, Position, origin_token
from meterflow.domain.events import AcceptancePolicy, Event, EventRejected, decode_json, parse_event
from meterflow.domain.known_customers import unknown_customer
from meterflow.domain.late_events import LateEvent, find_late
from meterflow.domain.modes import Mode
from meterflow.domain.records import DeadLetter, DeadLetterCategory, Record
from meterflow.domain.rollups import MetricRule, observe_event


@dataclass
class BatchReport:
    """What became of a batch's records, once durable: counted or duplicate, dead-lettered, late."""

    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    late: list[LateEvent] = field(default_factory=list)

    def extend(self, other: BatchReport) -> None:
        self.outcome.extend(other.outcome)
        self.dead_letters += other.dead_letters
        self.late += other.late


class _Decoded(NamedTuple):
    """A record read as a valid event, with what the later steps ask of it computed once (on the hot
    path, every step of a batch of thousands reads these; a tuple, the cheapest object to make)."""

    record: Record
    mode: Mode
    event: Event
    received_at: datetime
    position: Position
    origin: str  # `origin_token`: names this record among the records of its key


def decoded(record: Record, mode: Mode, event: Event, received_at: datetime) -> _Decoded:
    """A record forwarded from a gateway's spool is named by its delivery id, which every produce of that
    event carries: produced again after a broker lost it, it is the record already counted (`recounted`),
    not a duplicate of itself; any other record by where it was read."""
    position = Position(record.topic, record.partition, record.offset)
    return _Decoded(record, mode, event, received_at, position,
                    record.delivery_id or origin_token(position, event.timestamp))


def on_record(item: _Decoded) -> EventOnRecord:
    event = item.event
    return EventOnRecord(item.mode, event.idempotency_key, event.customer_id, event.event_name,
                         event.timestamp, event.properties, item.received_at, item.position)


def _counted_items(decoded: Sequence[_Decoded], outcome: BatchOutcome) -> list[_Decoded]:
    """The decoded records behind the events the count put on record (matched by origin, which names
    one record of a mode's topic)."""
    by_origin = {(item.mode, item.origin): item for item in decoded}
    return [by_origin[(e.mode, e.origin)] for e in outcome.on_record if e.origin is not None]


def _reason(error: FieldError) -> str:
    return f"{error.param}: {error.message}" if error.param else error.message


def contributions(event: Event, rules: Sequence[MetricRule]) -> tuple[Contribution, ...]:
    """What `event` adds to each metric that reads it; raises `FieldError` for a value a metric refuses."""
    return tuple(Contribution(rule.metric_id, observe_event(rule, event)) for rule in rules
                 if rule.event_name == event.event_name)


def _nobody_waits(records: Sequence[Record]) -> None:
    return None


class _Prepared(NamedTuple):
    """A batch decoded and resolved ahead of its call (`CountUsage.prepare`)."""

    records: Sequence[Record]
    report: BatchReport
    decoded: list[_Decoded]
    countable: list[CountableEvent]


@dataclass(frozen=True)
class CountUsage:
    catalog: CountingCatalog
    usage: UsageCounter
    late_events: LateEventStore
    dead_letters: DeadLetterSink
    clock: Clock
    topic_modes: Mapping[str, Mode]
    policy: AcceptancePolicy
    record: EventRecordWriter
    # Told, with the records of the call, once their count is durable (Redis EXEC) and before they go on
    # record: the processor may start counting the next batch then (docs/processor-design.md).
    counted: Callable[[Sequence[Record]], None] = _nobody_waits
    # At most one batch prepared ahead, taken up by the call for that very list of records.
    _ahead: list[_Prepared] = field(default_factory=list, init=False, repr=False, compare=False)

    async def prepare(self, records: Sequence[Record]) -> None:
        """Decode and resolve `records` ahead of their call: the processor does it while the batch
        before is still counting (docs/processor-design.md). These steps change nothing and need no
        earlier batch counted; they read the catalog a moment earlier than the call would, as if the
        batch had arrived that moment earlier. The call for this same list takes the result up; any
        other call (a retry, a half being isolated) prepares its records itself."""
        self._ahead[:] = [await self._prepared(records)]

    async def _prepared(self, records: Sequence[Record]) -> _Prepared:
        report = BatchReport()
        decoded: list[_Decoded] = []
        for record in records:
            item = self._decode(record)
            if isinstance(item, DeadLetter):
                report.dead_letters.append(item)
            else:
                decoded.append(item)
        return _Prepared(records, report, decoded, await self._resolve(decoded, report))

    async def __call__(self, records: Sequence[Record]) -> BatchReport:
        if self._ahead and self._ahead[0].records is records:
            _, report, decoded, countable = self._ahead.pop()
        else:
            _, report, decoded, countable = await self._prepared(records)
        # From here on the order of batches matters: the late check asks which keys are counted.
        report.late = await self._record_late(countable)
        async with self.record.counting():
            report.outcome = await self.usage.apply(countable, self.clock.now())
            self.counted(records)
            # After the count (which decides which record of a key is the counted one) and before the
            # ack: a crash in between is repaired by the replay, whose `recounted` events are the same
            # records.
            await self.record.add([on_record(item) for item in _counted_items(decoded, report.outcome)])
        await self.dead_letters.send(report.dead_letters)
        return report

    def _decode(self, record: Record) -> _Decoded | DeadLetter:
        """Never raises for a bad record: it becomes a dead letter and the stream goes on."""
        mode = self.topic_modes.get(record.topic)
        if mode is None:
            return DeadLetter(record, f"topic {record.topic!r} is not an events topic",
                              DeadLetterCategory.UNKNOWN_TOPIC)
        try:
            raw = decode_json(record.value)
        except (ValueError, UnicodeDecodeError) as exc:
            return DeadLetter(record, f"not JSON: {exc}", DeadLetterCategory.NOT_JSON)
        received_at = record.received_at
        try:
            return decoded(record, mode, parse_event(raw, received_at, self.policy, size_hint=len(record.value)),
                           received_at)
        except EventRejected as exc:
            return DeadLetter(record, _reason(exc), DeadLetterCategory.INVALID_EVENT)

    async def _resolve(self, decoded: list[_Decoded], report: BatchReport) -> list[CountableEvent]:
        """Unknown customers and values a metric refuses are dead letters; events no metric reads are
        still countable (their key is remembered)."""
        by_mode: dict[Mode, list[_Decoded]] = defaultdict(list)
        for item in decoded:
            by_mode[item.mode].append(item)
        countable: list[CountableEvent] = []
        for mode, items in by_mode.items():
            customers = await self.catalog.existing_customer_ids(mode, {i.event.customer_id for i in items})
            rules = await self.catalog.metric_rules(mode, {i.event.event_name for i in items})
            for item in items:
                found = self._countable(item, customers, rules)
                if isinstance(found, DeadLetter):
                    report.dead_letters.append(found)
                else:
                    countable.append(found)
        return countable

    @staticmethod
    def _countable(item: _Decoded, customers: set[str], rules: Sequence[MetricRule]) -> CountableEvent | DeadLetter:
        event = item.event
        unknown = unknown_customer(event.customer_id, item.mode, customers)
        if unknown is not None:
            return DeadLetter(item.record, _reason(unknown), DeadLetterCategory.UNKNOWN_CUSTOMER, event.idempotency_key)
        try:
            adds = contributions(event, rules)
        except FieldError as exc:
            return DeadLetter(item.record, _reason(exc), DeadLetterCategory.INVALID_EVENT, event.idempotency_key)
        return CountableEvent(item.mode, event.idempotency_key, event.customer_id, event.event_name,
                              event.timestamp, adds, item.origin, receipt_of(item.record, item.mode), item.position)

    async def _record_late(self, countable: list[CountableEvent]) -> list[LateEvent]:
        """Report events that land in an already finalized period (they count in usage, never on that
        invoice). Recorded before the counting transaction, idempotently, so a crash in between cannot
        lose a report; only events not counted before are candidates, so a duplicate is never late."""
        late: list[LateEvent] = []
        by_mode: dict[Mode, list[CountableEvent]] = defaultdict(list)
        for event in countable:
            by_mode[event.mode].append(event)
        for mode, events in by_mode.items():
            periods = await self.late_events.finalized_periods(
                mode, [e.customer_id for e in events], min(e.timestamp for e in events))
            candidates = find_late(events, periods)
            if candidates:
                seen = await self.usage.known_keys(mode, [c.idempotency_key for c in candidates])
                late += [c for c in candidates if c.idempotency_key not in seen]
        await self.late_events.record(late)
        return late
