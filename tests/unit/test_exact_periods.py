"""Splitting a period into whole hours (rollups) and edges (events on record): every second exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.exact_periods import PeriodParts, split
from meterflow.domain.periods import Period, align_to_hour

H = datetime(2026, 3, 1, 13, tzinfo=UTC)


def test_a_period_starting_mid_hour_reads_that_hour_from_its_events() -> None:
    period = Period(H + timedelta(minutes=37, seconds=12), H + timedelta(hours=3, minutes=20))
    assert split(period) == PeriodParts(Period(H + timedelta(hours=1), H + timedelta(hours=3)), (
        Period(period.start, H + timedelta(hours=1)), Period(H + timedelta(hours=3), period.end)))


def test_whole_hours_read_only_the_rollups_and_a_short_period_only_events() -> None:
    assert split(Period(H, H + timedelta(hours=2))) == PeriodParts(Period(H, H + timedelta(hours=2)), ())
    inside = Period(H + timedelta(minutes=10), H + timedelta(minutes=50))
    assert split(inside) == PeriodParts(None, (inside,))


def test_a_short_period_across_an_hour_is_two_edges_one_in_each_hour() -> None:
    """An edge figure is kept per hour (its hour's version says when it no longer holds)."""
    short = Period(H + timedelta(minutes=50), H + timedelta(minutes=70))
    assert split(short) == PeriodParts(None, (Period(short.start, H + timedelta(hours=1)),
                                              Period(H + timedelta(hours=1), short.end)))


@given(st.integers(0, 10_000), st.integers(1, 20_000))
def test_the_parts_tile_the_period(start_s: int, length_s: int) -> None:
    period = Period(H + timedelta(seconds=start_s), H + timedelta(seconds=start_s + length_s))
    parts = split(period)
    pieces = sorted([*([parts.hours] if parts.hours else []), *parts.edges], key=lambda p: p.start)
    assert pieces[0].start == period.start and pieces[-1].end == period.end
    assert all(a.end == b.start for a, b in pairwise(pieces))
    assert all(align_to_hour(edge.start) == align_to_hour(edge.end - timedelta(microseconds=1))
               for edge in parts.edges)
