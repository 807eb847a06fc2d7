"""Replay (docs/billing.md, "Replay"): rebuild the hourly rollups of a range from the events on record.

The rebuilt unit is the whole UTC hour: a range is widened to the hours it touches, and each of those
hours is recomputed from **all** its events on record, so replaying a range twice, or two overlapping
ranges, gives the same rollups (idempotent), and a metric created after its events counts them (the
record keeps every counted event, whichever metrics read it then).

The fold is the counting rule itself (`counting.count_batch` over an empty state: each event on record
is one counted key), so a replayed hour equals what the processor would have counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from meterflow.domain.counting import Changes, Contribution, CountableEvent, StoredState, count_batch
from meterflow.domain.event_record import EventOnRecord, as_event
from meterflow.domain.late_events import FinalizedPeriod
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.rollups import DaySlice, MetricRule, Rollup, Window, hour_bit, observe_event

_HOUR = timedelta(hours=1)


class ReplayStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class ReplayJob:
    id: str
    mode: Mode
    status: ReplayStatus
    period: Period
    event_name: str | None
    events_total: int
    events_replayed: int
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


def hours_of(period: Period) -> Period:
    """The whole hours a range touches: the unit a replay rebuilds."""
    end = align_to_hour(period.end)
    return Period(align_to_hour(period.start), end if end == period.end.astimezone(UTC) else end + timedelta(hours=1))


def fold_replayed(events: Iterable[EventOnRecord], rules: Sequence[MetricRule], so_far: Changes) -> Changes:
    """Add a chunk of events on record to the rebuilt rollups so far (chunks in any order give the same)."""
    countable = [CountableEvent(e.mode, e.idempotency_key, e.customer_id, e.event_name, e.timestamp,
                                tuple(Contribution(r.metric_id, observe_event(r, as_event(e)))
                                      for r in rules if r.event_name == e.event_name))
                 for e in events]
    _, changes = count_batch(countable, StoredState(rollups=so_far.rollups, distinct=so_far.distinct))
    return Changes(so_far.rollups | changes.rollups, so_far.distinct | changes.distinct)


class ChangedHour(NamedTuple):
    """One hour of one customer's metric whose rollup a rebuild changed (what the rollups said before the
    rebuild differs from what the events on record say)."""

    customer_id: str
    metric_id: str
    start: datetime


def changed_hours(piece: DaySlice, before: dict[int, Rollup], after: dict[int, Rollup],
                  masks_before: dict[str, int], masks_after: dict[str, int]) -> list[int]:
    """The hours of one day slice whose figures a rewrite changes: the rollup, or the distinct values
    seen in that hour (a `unique` figure can change with every rollup field equal)."""
    def seen_in(masks: dict[str, int], hour: int) -> frozenset[str]:
        return frozenset(value for value, mask in masks.items() if mask & hour_bit(hour))

    return [hour for hour in range(piece.first_hour, piece.last_hour + 1)
            if before.get(hour, Rollup()) != after.get(hour, Rollup())
            or seen_in(masks_before, hour) != seen_in(masks_after, hour)]


@dataclass(frozen=True)
class MaskRewrite:
    """A day's distinct-value masks once a slice of its hours is rebuilt: the values still seen in some
    hour with their new masks, and the stored values seen in none any more (their fields are deleted, so a
    rebuilt day holds no value with an empty mask)."""

    kept: dict[str, int]
    emptied: list[str]


def replaced_masks(piece: DaySlice, stored: Mapping[str, int], rebuilt: Mapping[str, int]) -> MaskRewrite:
    """The day's masks with the slice's hours taken from the rebuild: the hours outside the slice keep
    what was stored (another replay, or the live counting, owns them); inside it only the rebuilt values
    count, so a value no event on record shows any more leaves those hours."""
    covered = piece.hours_mask
    masks = {value: mask & ~covered for value, mask in stored.items()}
    for value, mask in rebuilt.items():
        masks[value] = masks.get(value, 0) | (mask & covered)
    return MaskRewrite(kept={value: mask for value, mask in masks.items() if mask},
                       emptied=[value for value, mask in masks.items() if not mask and value in stored])


def hour_start(day: int, hour: int) -> datetime:
    return Window(day, hour).start


def in_finalized_period(customer_id: str, hour: datetime, periods: Sequence[FinalizedPeriod]) -> bool:
    """Does this hour of the customer overlap one of its finalized periods: an hour where a rebuild
    changes figures an invoice has already locked (docs/billing.md, "Replay")?"""
    return any(p.customer_id == customer_id and p.start < hour + _HOUR and hour < p.end for p in periods)


def hour_runs(starts: Iterable[datetime]) -> list[Period]:
    """Hour starts grouped into runs of consecutive hours (one read or one rebuild per run)."""
    runs: list[Period] = []
    for start in sorted(set(starts)):
        if runs and runs[-1].end == start:
            runs[-1] = Period(runs[-1].start, start + _HOUR)
        else:
            runs.append(Period(start, start + _HOUR))
    return runs
