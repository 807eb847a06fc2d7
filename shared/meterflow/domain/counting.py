"""The counting rule of docs/billing.md ("Deduplication", "Aggregations"): which events of a batch count, and what they
add to the rollups.

The first event of a (mode, idempotency key) is the one counted; every later one, stored before or
earlier in the same batch, is a duplicate even if its body differs. A counted event folds into the
hourly rollup of every metric that reads it, and its distinct value (for `unique`) into that value's
bitmask of hours of the day.

Pure: the store reads the state named by `reads_needed`, hands it to `count_batch`, and writes the
`Changes` back in the same transaction as the dedupe marks of `BatchOutcome.counted` (the write that
makes counting exactly-once, docs/exactly-once.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from meterflow.domain.accounting import Receipt
from meterflow.domain.event_record import Position
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import DaySlice, Observation, Rollup, Window, fold_all, hour_bit, merge_all
from meterflow.domain.usage import PeriodUsage

DedupeKey = tuple[Mode, str]


class Contribution(NamedTuple):
    """What one event adds to one metric's rollup (a tuple: one per event and metric on the hot path)."""

    metric_id: str
    observation: Observation


@dataclass(frozen=True)
class CountableEvent:
    """A valid event of a known customer, with what it adds to each metric that reads it (possibly none:
    an event no metric reads is still remembered, so a metric created later never counts a duplicate)."""

    mode: Mode
    idempotency_key: str
    customer_id: str
    event_name: str
    timestamp: datetime
    contributions: tuple[Contribution, ...]
    # Which record this is (`event_record.origin_token`): kept with the dedupe mark of the counted one,
    # so a replay can tell the counted record from a later duplicate of its key. None: not known.
    origin: str | None = None
    # Where the record is accounted (docs/accounting.md): its counted or duplicate outcome is tallied in the
    # same transaction as the marks. None: not a record of an events topic (nothing to account).
    receipt: Receipt | None = None
    # Where the record was read (None: not read from a log): the marks keep the highest position they
    # name per partition, so they know when no replay can ask for the origin any more.
    position: Position | None = None

    @property
    def dedupe_key(self) -> DedupeKey:
        return self.mode, self.idempotency_key


@dataclass
class BatchOutcome:
    counted: list[CountableEvent] = field(default_factory=list)
    duplicates: list[CountableEvent] = field(default_factory=list)
    # Replays of the very records a previous transaction counted (their mark names their origin): not
    # counted again, but their effects after the count (the events on record) must be made durable again.
    recounted: list[CountableEvent] = field(default_factory=list)

    def extend(self, other: BatchOutcome) -> None:
        self.counted += other.counted
        self.duplicates += other.duplicates
        self.recounted += other.recounted

    @property
    def on_record(self) -> list[CountableEvent]:
        """The events whose record must be durable before the batch is acked."""
        return self.counted + self.recounted


class RollupKey(NamedTuple):
    """One UTC day of one metric's hourly rollups for one customer: the unit the store keeps together."""

    mode: Mode
    metric_id: str
    customer_id: str
    day: int


@dataclass(frozen=True)
class Reads:
    """The stored state a batch's fold depends on (and that a concurrent writer must not change)."""

    rollups: list[RollupKey]
    distinct: dict[RollupKey, list[str]]


@dataclass
class StoredState:
    """What the store holds for `Reads`: counted keys (with the origin of the record counted, when known),
    rollups by hour, distinct value → bitmask of hours."""

    counted: set[DedupeKey] = field(default_factory=set)
    rollups: dict[RollupKey, dict[int, Rollup]] = field(default_factory=dict)
    distinct: dict[RollupKey, dict[str, int]] = field(default_factory=dict)
    origins: dict[DedupeKey, str] = field(default_factory=dict)


@dataclass
class Changes:
    """The new values of every rollup day and distinct mask the batch changed (whole days, not deltas)."""

    rollups: dict[RollupKey, dict[int, Rollup]] = field(default_factory=dict)
    distinct: dict[RollupKey, dict[str, int]] = field(default_factory=dict)


def reads_needed(events: Iterable[CountableEvent]) -> Reads:
    rollups: dict[RollupKey, None] = {}
    distinct: dict[RollupKey, dict[str, None]] = defaultdict(dict)
    for event in events:
        day = Window.of(event.timestamp).day
        for c in event.contributions:
            key = RollupKey(event.mode, c.metric_id, event.customer_id, day)
            rollups[key] = None
            if c.observation.distinct is not None:
                distinct[key][c.observation.distinct] = None
    return Reads(list(rollups), {key: list(values) for key, values in distinct.items()})


def count_batch(events: Sequence[CountableEvent], stored: StoredState) -> tuple[BatchOutcome, Changes]:
    """First event per key wins; later ones (in the store or earlier in this batch) are duplicates."""
    outcome, changes, counted = BatchOutcome(), Changes(), set(stored.counted)
    # The origin of each key's counted record: the stored one, or the one counted earlier in this batch (a
    # record a spool produced twice can sit twice in one fetch: its second copy is that record again).
    origins = dict(stored.origins)
    observed: dict[tuple[RollupKey, int], list[Observation]] = {}  # in the order of the events
    for event in events:
        if event.dedupe_key in counted:
            again = event.origin is not None and origins.get(event.dedupe_key) == event.origin
            (outcome.recounted if again else outcome.duplicates).append(event)
            continue
        counted.add(event.dedupe_key)
        if event.origin is not None:
            origins[event.dedupe_key] = event.origin
        outcome.counted.append(event)
        _observe_event(event, stored, changes, observed)
    # Each hour's observations folded at once: one new Rollup per hour touched, not one per event.
    for (key, hour), observations in observed.items():
        hours = changes.rollups.get(key)
        if hours is None:
            hours = changes.rollups[key] = dict(stored.rollups.get(key, {}))
        hours[hour] = fold_all(hours.get(hour, Rollup()), observations)
    return outcome, changes


def _observe_event(event: CountableEvent, stored: StoredState, changes: Changes,
                   observed: dict[tuple[RollupKey, int], list[Observation]]) -> None:
    window = Window.of(event.timestamp)
    for c in event.contributions:
        key = RollupKey(event.mode, c.metric_id, event.customer_id, window.day)
        hour = key, window.hour
        pending = observed.get(hour)
        if pending is None:
            observed[hour] = [c.observation]
        else:
            pending.append(c.observation)
        value = c.observation.distinct
        if value is not None:
            masks = changes.distinct.get(key)
            if masks is None:
                masks = changes.distinct[key] = dict(stored.distinct.get(key, {}))
            masks[value] = masks.get(value, 0) | hour_bit(window.hour)


def period_figure(days: Iterable[tuple[DaySlice, Mapping[int, Rollup], Mapping[str, int]]]) -> PeriodUsage:
    """A period's figure from its stored days (each: the slice of hours it covers, the day's rollups by
    hour, its distinct values' hour masks): the merge of the covered hours, and the size of the union of
    the distinct values seen in them (never a sum of per-window counts)."""
    rollup, values = period_parts(days)
    return PeriodUsage(rollup, len(values))


def period_parts(days: Iterable[tuple[DaySlice, Mapping[int, Rollup], Mapping[str, int]]]) -> tuple[
        Rollup, set[str]]:
    """`period_figure` with the distinct values themselves, so a figure can be merged with another part
    of the period (its edge hours recounted from the events on record) and still count `unique` exactly."""
    rollups: list[Rollup] = []
    values: set[str] = set()
    for piece, hours, masks in days:
        rollups += [rollup for hour, rollup in hours.items() if piece.covers(hour)]
        values |= {value for value, mask in masks.items() if piece.holds(mask)}
    return merge_all(rollups), values
