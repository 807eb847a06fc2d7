"""The overview's arithmetic: moments counted into the hours of the plots, failed attempts summed per
endpoint, and this hour's rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterflow.application.console_overview import Overview, count_per_hour, failed_per_endpoint
from meterflow.domain.accounting import HourFigures
from meterflow.domain.webhooks import FailedAttempts

H0 = datetime(2026, 12, 5, 10, tzinfo=UTC)
HOURS = [H0, H0 + timedelta(hours=1), H0 + timedelta(hours=2)]


def test_moments_are_counted_in_their_hour_and_those_outside_the_window_are_left_out() -> None:
    counted = [(H0 + timedelta(minutes=59, seconds=59), 2), (H0 + timedelta(hours=1), 1),
               (H0 + timedelta(hours=2, minutes=30), 4), (H0 - timedelta(seconds=1), 100),
               (H0 + timedelta(hours=3), 100)]
    assert count_per_hour(HOURS, counted) == [2, 1, 4]


def test_failed_attempts_are_summed_per_endpoint() -> None:
    failed = failed_per_endpoint([FailedAttempts("whe_a", H0, 3), FailedAttempts("whe_b", H0, 1),
                                  FailedAttempts("whe_a", HOURS[1], 2)])
    assert failed == {"whe_a": 5, "whe_b": 1}


def test_rates_are_this_hours_events_over_the_seconds_gone_and_in_flight_never_counts_below_zero() -> None:
    rows = [HourFigures(H0, 10, 12, 0, 0), HourFigures(HOURS[1], 5, 1, 0, 1), HourFigures(HOURS[2], 600, 300, 0, 0)]
    overview = Overview(HOURS, rows, [], [0, 0, 0], [0, 0, 0], [], HOURS[2] + timedelta(minutes=5))
    assert overview.rate_per_s("acknowledged") == 2.0  # 600 in 300 s
    assert overview.rate_per_s("counted") == 1.0
    assert overview.in_flight == 3 + 300  # the first hour's -2 (counted before its tally) is not subtracted
    assert overview.dead_letters == 1
