"""Usage over any `[start, end)` to the second (docs/billing.md, "Aggregations"): whole hours from the hourly rollups,
the partial hours at either edge recounted from the events on record, merged exactly.

A period that starts at 13:37:12 counts no event of 13:20: the rollup of 13:00-14:00 holds both, so that
hour is recounted from its events in [13:37:12, 14:00) instead. `unique` stays exact because both parts
give their distinct values, not their counts, and the union is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meterflow.domain.periods import Period, align_to_hour

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class PeriodParts:
    """`hours`: the whole hours (None if there is none); `edges`: what is left, read from events."""

    hours: Period | None
    edges: tuple[Period, ...]


def _ceil_hour(at: datetime) -> datetime:
    floor = align_to_hour(at)
    return floor if floor == at.astimezone(UTC) else floor + _HOUR


def split(period: Period) -> PeriodParts:
    first, last = _ceil_hour(period.start), align_to_hour(period.end)
    if first >= last:
        return PeriodParts(None, (period,))
    edges = tuple(p for p in (Period(period.start, first), Period(last, period.end)) if p.start < p.end)
    return PeriodParts(Period(first, last), edges)
