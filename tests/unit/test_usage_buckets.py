"""A usage plot's buckets: hourly up to a week, daily beyond, on the UTC grid, cut to the period, ending at
the present; together they cover the period up to now exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.periods import Period
from meterflow.domain.usage_buckets import DAY, HOUR, bucket_size, usage_buckets

START = datetime(2026, 12, 1, 10, 23, 45, tzinfo=UTC)


def test_a_week_is_drawn_in_hours_and_a_month_in_days() -> None:
    assert bucket_size(Period(START, START + timedelta(days=7))) == HOUR
    assert bucket_size(Period(START, START + timedelta(days=7, seconds=1))) == DAY


def test_buckets_are_cut_to_the_period_at_both_ends() -> None:
    period = Period(START, START + timedelta(days=2))
    buckets = usage_buckets(period, START + timedelta(days=5))
    assert buckets[0] == Period(START, datetime(2026, 12, 1, 11, tzinfo=UTC))
    assert buckets[1] == Period(datetime(2026, 12, 1, 11, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert buckets[-1] == Period(datetime(2026, 12, 3, 10, tzinfo=UTC), period.end)
    assert len(buckets) == 49


def test_a_monthly_period_has_one_bucket_per_utc_day_up_to_now() -> None:
    period = Period(START, datetime(2027, 1, 1, 10, 23, 45, tzinfo=UTC))
    buckets = usage_buckets(period, datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
    assert buckets == [Period(START, datetime(2026, 12, 2, tzinfo=UTC)),
                       Period(datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),
                       Period(datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC))]


def test_a_billed_range_is_drawn_in_the_buckets_of_its_period() -> None:
    """A weekly period's first billed range reaches back a few minutes: still hours, not days."""
    week = Period(START, START + timedelta(days=7))
    reaching_back = Period(START - timedelta(minutes=5), week.end)
    buckets = usage_buckets(reaching_back, START + timedelta(hours=2), bucket_size(week))
    assert buckets[:2] == [Period(reaching_back.start, datetime(2026, 12, 1, 11, tzinfo=UTC)),
                           Period(datetime(2026, 12, 1, 11, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC))]


def test_a_period_that_has_not_begun_has_no_bucket() -> None:
    assert usage_buckets(Period(START, START + DAY), START - timedelta(seconds=1)) == []


@given(st.integers(0, 40 * 86_400), st.integers(1, 40 * 86_400), st.integers(0, 50 * 86_400))
def test_buckets_tile_the_period_up_to_now(offset_s: int, length_s: int, now_s: int) -> None:
    period = Period(START + timedelta(seconds=offset_s), START + timedelta(seconds=offset_s + length_s))
    now = START + timedelta(seconds=now_s)
    buckets = usage_buckets(period, now)
    if now < period.start:
        assert buckets == []
        return
    assert buckets[0].start == period.start
    assert all(a.end == b.start for a, b in pairwise(buckets))
    assert all(b.start < b.end and b.end - b.start <= bucket_size(period) for b in buckets)
    assert buckets[-1].end == period.end or buckets[-1].end > now
