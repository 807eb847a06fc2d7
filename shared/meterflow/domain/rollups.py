"""Rollups: how events fold into hourly windows, and how windows merge into a period quantity.

One `Rollup` per (metric, customer, hour). `observe` folds one event in, `merge` combines windows, and
`quantity` turns the merged rollup into the billed figure of docs/billing.md, "Aggregations". Everything is exact
Decimal computed in `QUANTITY_CONTEXT`, wide enough that no value inside the documented domain of a
usage value (domain/quantities.py) ever loses a digit; a value outside it is refused, never folded.
Negative values and negative sums are kept as they are (pricing bills them as zero). An event a numeric
metric cannot read is counted as `unbillable`, never silently skipped.
`unique` keeps the distinct values themselves (by JSON text) per window, so the period figure is the
size of their union, not a sum of per-window counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import NamedTuple

from meterflow.domain.events import Event, numeric_property, property_text
from meterflow.domain.periods import Period
from meterflow.domain.quantities import QUANTITY_CONTEXT

AVERAGE_QUANTUM = Decimal("0.000001")
HOURS_PER_DAY = 24
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    MINIMUM = "minimum"
    AVERAGE = "average"
    UNIQUE = "unique"

    @property
    def reads_property(self) -> bool:
        return self is not Aggregation.COUNT


@dataclass(frozen=True)
class MetricRule:
    """What the processor needs of a metric: which events it reads and how it folds them."""

    metric_id: str
    event_name: str
    aggregation: Aggregation
    aggregation_property: str | None


@dataclass(frozen=True)
class Rollup:
    events: int = 0
    valued: int = 0
    total: Decimal = Decimal(0)
    maximum: Decimal | None = None
    minimum: Decimal | None = None
    unbillable: int = 0

    def merge(self, other: Rollup) -> Rollup:
        return Rollup(
            events=self.events + other.events,
            valued=self.valued + other.valued,
            total=QUANTITY_CONTEXT.add(self.total, other.total),
            maximum=_pick(self.maximum, other.maximum, larger=True),
            minimum=_pick(self.minimum, other.minimum, larger=False),
            unbillable=self.unbillable + other.unbillable,
        )


def _pick(a: Decimal | None, b: Decimal | None, *, larger: bool) -> Decimal | None:
    """The larger (or smaller) of two optional values; None means "no value seen"."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b) if larger else min(a, b)


class Observation(NamedTuple):
    """One event as one metric sees it (a tuple: millions are made on the processor's hot path)."""

    value: Decimal | None = None
    distinct: str | None = None
    unbillable: bool = False


COUNTED = Observation()


def observe_event(rule: MetricRule, event: Event) -> Observation:
    """How `rule`'s metric sees `event`. Only values inside the documented domain are read as numbers
    (`numeric_property`), so a fold can never overflow; anything else is unbillable, never a crash."""
    if rule.aggregation is Aggregation.COUNT:
        return COUNTED
    assert rule.aggregation_property is not None
    if rule.aggregation is Aggregation.UNIQUE:
        text = property_text(event, rule.aggregation_property)
        return Observation(distinct=text, unbillable=text is None)
    value = numeric_property(event, rule.aggregation_property)
    return Observation(value=value, unbillable=value is None)


def fold(rollup: Rollup, observation: Observation) -> Rollup:
    return fold_all(rollup, (observation,))


def fold_all(rollup: Rollup, observations: Iterable[Observation]) -> Rollup:
    """`fold` of each observation in turn, making one `Rollup` instead of one per observation (the
    processor folds every counted event into a rollup of each metric that reads it): the same sums in the
    same order, so the same rollup digit for digit."""
    events, valued, total, maximum, minimum, unbillable = (rollup.events, rollup.valued, rollup.total,
                                                           rollup.maximum, rollup.minimum, rollup.unbillable)
    for observation in observations:
        if observation.unbillable:
            unbillable += 1
            continue
        events += 1
        value = observation.value
        if value is not None:
            valued += 1
            total = QUANTITY_CONTEXT.add(total, value)
            maximum = value if maximum is None else max(maximum, value)
            minimum = value if minimum is None else min(minimum, value)
    return Rollup(events, valued, total, maximum, minimum, unbillable)


def observed(observation: Observation, times: int) -> Rollup:
    """`fold` of `times` events that each observe `observation`, from an empty rollup, in one step: the
    same rollup, digit for digit (the total starts from 0 as a fold's does, so its exponent is too)."""
    if observation.unbillable:
        return Rollup(unbillable=times)
    value = observation.value
    if value is None:
        return Rollup(events=times)
    total = QUANTITY_CONTEXT.add(Decimal(0), QUANTITY_CONTEXT.multiply(value, times))
    return Rollup(events=times, valued=times, total=total, maximum=value, minimum=value)


def merge_all(rollups: Iterable[Rollup]) -> Rollup:
    merged = Rollup()
    for rollup in rollups:
        merged = merged.merge(rollup)
    return merged


def quantity(aggregation: Aggregation, rollup: Rollup, distinct_values: int = 0) -> Decimal:
    """The billed quantity of docs/billing.md, "Aggregations" (0 when nothing was observed)."""
    match aggregation:
        case Aggregation.COUNT:
            return Decimal(rollup.events)
        case Aggregation.SUM:
            return rollup.total
        case Aggregation.MAX:
            return rollup.maximum if rollup.maximum is not None else Decimal(0)
        case Aggregation.MINIMUM:
            return rollup.minimum if rollup.minimum is not None else Decimal(0)
        case Aggregation.AVERAGE:
            if rollup.valued == 0:
                return Decimal(0)
            mean = QUANTITY_CONTEXT.divide(rollup.total, rollup.valued)
            return mean.quantize(AVERAGE_QUANTUM, rounding=ROUND_HALF_UP, context=QUANTITY_CONTEXT)
        case Aggregation.UNIQUE:
            return Decimal(distinct_values)


class Window(NamedTuple):
    """An hourly rollup window, addressed as (UTC day number since the epoch, hour of that day); ordered
    by both. A tuple: the processor takes the window of every event it counts."""

    day: int
    hour: int

    @staticmethod
    def of(at: datetime) -> Window:
        at = at.astimezone(UTC)
        return Window((at - _EPOCH).days, at.hour)

    @property
    def start(self) -> datetime:
        return _EPOCH + _DAY * self.day + timedelta(hours=self.hour)


@dataclass(frozen=True)
class DaySlice:
    """The hours [first_hour, last_hour] of one UTC day that a period covers."""

    day: int
    first_hour: int
    last_hour: int

    def covers(self, hour: int) -> bool:
        return self.first_hour <= hour <= self.last_hour

    @property
    def hours_mask(self) -> int:
        """The slice's hours as a mask of `hour_bit`s."""
        return ((1 << (self.last_hour + 1)) - 1) & ~((1 << self.first_hour) - 1)

    def holds(self, hours_mask: int) -> bool:
        """Does a distinct value seen in the hours of `hours_mask` (see `hour_bit`) fall in this slice?"""
        return hours_mask & self.hours_mask != 0


def hour_bit(hour: int) -> int:
    """A distinct value is stored per day with the bitmask of the hours it was seen in, so a period that
    starts or ends mid-day still counts the union of exactly its hours."""
    return 1 << hour


def day_slices(period: Period) -> Iterator[DaySlice]:
    """The hourly windows of an hour-aligned period, grouped by day (how rollups are stored)."""
    first, last = Window.of(period.start), Window.of(period.end - timedelta(hours=1))
    for day in range(first.day, last.day + 1):
        yield DaySlice(day, first.hour if day == first.day else 0,
                       last.hour if day == last.day else HOURS_PER_DAY - 1)
