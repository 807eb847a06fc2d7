"""The buckets a usage plot is drawn in: hours for a period of up to 7 days, UTC days beyond (a month
in hours is 744 points, too many to read; a week is 168). Pure arithmetic.

Buckets lie on the UTC hour or day grid, cut to the period at both ends, so each bucket's figure is
exactly the period's usage inside it and the buckets of a sum or a count add up to the period's figure.
Buckets that start after `now` are left out: the plot ends at the present, not at the period's end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterflow.domain.periods import Period

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURLY_UP_TO = timedelta(days=7)


def bucket_size(period: Period) -> timedelta:
    return HOUR if period.end - period.start <= HOURLY_UP_TO else DAY


def _grid_floor(at: datetime, size: timedelta) -> datetime:
    at = at.astimezone(UTC)
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if size == DAY else at


def usage_buckets(period: Period, now: datetime, size: timedelta | None = None) -> list[Period]:
    """`size` defaults to the period's own; a period's billed range (which may reach back a little before
    the period, domain/start_allowance.py) is drawn in the buckets of the period it bills."""
    size = size or bucket_size(period)
    buckets, start = [], period.start
    while start < period.end and start <= now:
        end = min(_grid_floor(start, size) + size, period.end)
        buckets.append(Period(start, end))
        start = end
    return buckets
