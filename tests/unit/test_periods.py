"""Billing periods: anchored, clamped at month end without drift, UTC, hour-aligned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.periods import (
    BillingInterval,
    Period,
    align_to_hour,
    boundary,
    next_period,
    period_containing,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_monthly_from_jan_31_clamps_without_drift() -> None:
    anchor = utc(2028, 1, 31, 9)
    starts = [boundary(anchor, BillingInterval.MONTHLY, i) for i in range(5)]
    assert starts == [utc(2028, 1, 31, 9), utc(2028, 2, 29, 9), utc(2028, 3, 31, 9), utc(2028, 4, 30, 9),
                      utc(2028, 5, 31, 9)]
    assert boundary(utc(2027, 1, 31), BillingInterval.MONTHLY, 1) == utc(2027, 2, 28)


@pytest.mark.parametrize(("interval", "second_start"), [
    (BillingInterval.DAILY, utc(2026, 1, 16, 10)),
    (BillingInterval.WEEKLY, utc(2026, 1, 22, 10)),
    (BillingInterval.MONTHLY, utc(2026, 2, 15, 10)),
    (BillingInterval.QUARTERLY, utc(2026, 4, 15, 10)),
    (BillingInterval.ANNUALLY, utc(2027, 1, 15, 10)),
])
def test_each_interval_length(interval: BillingInterval, second_start: datetime) -> None:
    assert boundary(utc(2026, 1, 15, 10), interval, 1) == second_start


def test_period_is_half_open() -> None:
    anchor = utc(2026, 1, 31)
    first = period_containing(anchor, BillingInterval.MONTHLY, anchor)
    assert first == Period(utc(2026, 1, 31), utc(2026, 2, 28))
    assert period_containing(anchor, BillingInterval.MONTHLY, utc(2026, 2, 28)).start == utc(2026, 2, 28)
    assert next_period(anchor, BillingInterval.MONTHLY, first) == Period(utc(2026, 2, 28), utc(2026, 3, 31))


def test_align_to_hour_truncates_in_utc() -> None:
    from datetime import timezone

    assert align_to_hour(datetime(2026, 2, 25, 11, 59, 59, tzinfo=timezone(timedelta(hours=1)))) == utc(2026, 2, 25, 10)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
       st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
       st.sampled_from(list(BillingInterval)))
def test_the_containing_period_contains_and_chains(anchor: datetime, at: datetime, interval: BillingInterval) -> None:
    anchor, at = align_to_hour(anchor.replace(tzinfo=UTC)), at.replace(tzinfo=UTC)
    period = period_containing(anchor, interval, at)
    assert period.contains(at)
    assert next_period(anchor, interval, period).start == period.end
