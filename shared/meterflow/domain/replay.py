"""Replay (billing.md §6): rebuild the hourly rollups of a range from the events on record.

The rebuilt unit is the whole UTC hour: a range is widened to the hours it touches, and each of those
hours is recomputed from **all** its events on record, so replaying a range twice, or two overlapping
ranges, gives the same rollups (idempotent), and a metric created after its events counts them (the
record keeps every counted event, whichever metrics read it then).

The fold is the counting rule itself (`counting.count_batch` over an empty state: each event on record
is one counted key), so a replayed hour equals what the processor would have counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from meterflow.domain.counting import Changes, Contribution, CountableEvent, StoredState, count_batch
from meterflow.domain.event_record import EventOnRecord, as_event
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.rollups import MetricRule, observe_event


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
