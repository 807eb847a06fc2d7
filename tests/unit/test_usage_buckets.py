"""The buckets of a usage plot: whole hours or days, clipped to the period, none in the future."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from meterflow.domain.periods import Period
from meterflow.domain.usage_buckets import usage_buckets

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


def test_a_day_long_period_is_cut_at_whole_hours_clipped_to_its_start() -> None:
    period = Period(T0, T0 + timedelta(days=1))
    buckets = usage_buckets(period, T0 + timedelta(hours=2, minutes=5))
    assert buckets == [Period(T0, T0.replace(minute=0) + timedelta(hours=1)),
                       Period(T0.replace(hour=11, minute=0), T0.replace(hour=12, minute=0)),
                       Period(T0.replace(hour=12, minute=0), T0.replace(hour=13, minute=0))]


def test_a_month_is_cut_at_whole_days_and_ends_with_the_period() -> None:
    period = Period(T0, T0 + timedelta(days=30))
    buckets = usage_buckets(period, T0 + timedelta(days=40))
    assert len(buckets) == 31
    assert buckets[0] == Period(T0, datetime(2026, 3, 2, tzinfo=UTC))
    assert buckets[-1] == Period(datetime(2026, 3, 31, tzinfo=UTC), period.end)
    assert all(a.end == b.start for a, b in itertools.pairwise(buckets))


def test_a_period_not_begun_has_no_bucket() -> None:
    assert usage_buckets(Period(T0, T0 + timedelta(days=1)), T0 - timedelta(hours=1)) == []
