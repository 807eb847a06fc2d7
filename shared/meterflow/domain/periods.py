"""Billing periods: pure calendar arithmetic in UTC.

Every boundary is computed from the anchor (the subscription's first period start), never from the
previous boundary, so month-end clamping cannot drift: Jan 31 → Feb 28 → Mar 31 → Apr 30.

Every boundary is a whole second (`whole_second`): clients stamp events to the second (often with no
fraction at all), so a period starting at 10:00:00.4829 would leave out an event stamped 10:00:00 that was
sent after the subscription was created. An event stamped in the second a period starts belongs to it. A
boundary is not rounded to an hour: usage is rolled up in hourly windows (`align_to_hour` is the start of
an instant's window), and a period's partial hours at either edge are recounted from the events on record
(`exact_periods.py`), so no event is billed by two periods (docs/billing-periods.md).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class BillingInterval(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUALLY = "annually"


_MONTHS = {BillingInterval.MONTHLY: 1, BillingInterval.QUARTERLY: 3, BillingInterval.ANNUALLY: 12}
_DAYS = {BillingInterval.DAILY: 1, BillingInterval.WEEKLY: 7}


@dataclass(frozen=True, order=True)
class Period:
    """[start, end): an event at exactly `end` belongs to the next period."""

    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def whole_second(at: datetime) -> datetime:
    """`at` truncated to its second: the instant a start, pause, resume or cancel takes effect."""
    return at.replace(microsecond=0)


def align_to_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _add_months(anchor: datetime, months: int) -> datetime:
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def boundary(anchor: datetime, interval: BillingInterval, index: int) -> datetime:
    """Start of the period number `index` (0 = the first) of a subscription anchored at `anchor`."""
    if interval in _DAYS:
        return anchor + timedelta(days=_DAYS[interval] * index)
    return _add_months(anchor, _MONTHS[interval] * index)


def period_at(anchor: datetime, interval: BillingInterval, index: int) -> Period:
    return Period(boundary(anchor, interval, index), boundary(anchor, interval, index + 1))


def period_index(anchor: datetime, interval: BillingInterval, at: datetime) -> int:
    """Index of the period containing `at` (negative before the anchor)."""
    if interval in _DAYS:
        return (at - anchor) // timedelta(days=_DAYS[interval])
    step = _MONTHS[interval]
    index = ((at.year - anchor.year) * 12 + at.month - anchor.month) // step
    while boundary(anchor, interval, index) > at:
        index -= 1
    while boundary(anchor, interval, index + 1) <= at:
        index += 1
    return index


def period_containing(anchor: datetime, interval: BillingInterval, at: datetime) -> Period:
    return period_at(anchor, interval, period_index(anchor, interval, at))


def next_period(anchor: datetime, interval: BillingInterval, period: Period) -> Period:
    return period_at(anchor, interval, period_index(anchor, interval, period.start) + 1)
