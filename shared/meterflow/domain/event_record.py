"""Events on record (docs/billing.md, "Events on record"): every counted event, durably, with its body as counted, when
it was received and where it was read from (Kafka topic, partition, offset).

Invariant: the events on record are exactly the counted events. The counting transaction decides which
record of a key is counted and keeps that record's `origin_token` with the key's dedupe mark; the record is
then written (idempotently) before the batch is acked. A replay after a crash between the two finds its
own origin on the mark and writes the record again: the body on record is always the body that was
counted, never a later duplicate's (docs/exactly-once.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from meterflow.domain.events import Event, decode_json
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import MetricRule, Rollup, fold, observe_event, observed
from meterflow.domain.usage import PeriodUsage

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Position(NamedTuple):
    """Where a record was read: the Kafka topic, partition and offset (backfill: its own source name,
    partition 0 and the line number). A tuple, as `EventOnRecord`: one of each is made per record."""

    topic: str
    partition: int
    offset: int


class EventOnRecord(NamedTuple):
    mode: Mode
    idempotency_key: str
    customer_id: str
    event_name: str
    timestamp: datetime
    properties: dict[str, Any]
    received_at: datetime
    position: Position


def origin_token(position: Position, timestamp: datetime) -> str:
    """Names one record of a key among all records of that key. The partition and offset tell records of
    one topic apart (a mode has one events topic, and the mark's key carries the mode); the event's
    timestamp (in microseconds) tells them apart across a broker that lost its topics and restarted its
    offsets. The topic name is left out: it costs Redis memory on every mark and adds nothing here."""
    micros = (timestamp - _EPOCH) // _MICROSECOND
    return f"{position.partition}:{position.offset}:{micros}"


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def month_start(at: datetime) -> datetime:
    """The first instant of `at`'s UTC month: the events on record are kept in one partition per month."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventFilter:
    """Which events on record to read: every field that is set must match; `[start, end)` by timestamp."""

    customer_id: str | None = None
    event_names: tuple[str, ...] | None = None
    idempotency_key: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def as_event(event: EventOnRecord) -> Event:
    """The event as it was counted (already validated then: not validated again)."""
    return Event.model_construct(event_name=event.event_name, customer_id=event.customer_id,
                                 idempotency_key=event.idempotency_key, timestamp=event.timestamp,
                                 properties=event.properties)


def usage_of(rule: MetricRule, events: Iterable[EventOnRecord]) -> PeriodUsage:
    """What a metric counts of these events (the caller picks the customer and range): the same fold as
    the rollups, and the exact number of distinct values. The figure an invoice line is explained by."""
    rollup, values = fold_events(rule, events)
    return PeriodUsage(rollup, len(values))


class ValueTally(NamedTuple):
    """How many events of a range carry one JSON text of a metric's property (None: they lack it)."""

    text: str | None
    events: int


def fold_tally(rule: MetricRule, tally: Iterable[ValueTally]) -> tuple[Rollup, set[str]]:
    """`fold_events` of the events a tally stands for, each distinct text read once: the same figure in
    O(distinct values). The tally comes in order of each text's first event (timestamp, then key), so
    that of two equal values written differently ("1.5", "1.50") `max` and `minimum` keep the one
    `fold_events` keeps, the earlier."""
    rollup, values = Rollup(), set[str]()
    for text, events in tally:
        properties = {} if text is None or rule.aggregation_property is None else {
            rule.aggregation_property: decode_json(text)}
        # A metric reads nothing of an event but its property: the other fields stand for no event.
        standing_for = Event.model_construct(event_name=rule.event_name, customer_id="", idempotency_key="",
                                             timestamp=_EPOCH, properties=properties)
        observation = observe_event(rule, standing_for)
        rollup = rollup.merge(observed(observation, events))
        if observation.distinct is not None:
            values.add(observation.distinct)
    return rollup, values


def fold_events(rule: MetricRule, events: Iterable[EventOnRecord]) -> tuple[Rollup, set[str]]:
    """The fold of `usage_of`, with the distinct values themselves (so chunks can be merged exactly)."""
    rollup, values = Rollup(), set()
    for event in events:
        if event.event_name != rule.event_name:
            continue
        observation = observe_event(rule, as_event(event))
        rollup = fold(rollup, observation)
        if observation.distinct is not None:
            values.add(observation.distinct)
    return rollup, values
