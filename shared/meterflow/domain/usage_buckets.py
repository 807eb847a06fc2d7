"""A period cut into the buckets of a usage plot: whole UTC hours for a period of up to a week, whole UTC days
beyond (a month of hours is too many bars to read). The first and last buckets are clipped to the period,
and buckets that have not begun yet are left out (nothing can be in them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from meterflow.domain.periods import Period, align_to_hour

HOURLY_UP_TO = timedelta(days=7)


def bucket_width(period: Period) -> timedelta:
    return timedelta(hours=1) if period.end - period.start <= HOURLY_UP_TO else timedelta(days=1)


def usage_buckets(period: Period, now: datetime) -> list[Period]:
    width = bucket_width(period)
    edge = align_to_hour(period.start)
    if width > timedelta(hours=1):
        edge = edge.replace(hour=0)
    buckets = []
    while edge < period.end and edge <= now:
        start, edge = max(edge, period.start), edge + width
        if start < now:
            buckets.append(Period(start, min(edge, period.end)))
    return buckets
