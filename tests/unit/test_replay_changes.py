"""Which hours a replay's rewrite changes (the hours whose events are reported when they lie in a
finalized period), and the runs of hours read or rebuilt at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from meterflow.domain.late_events import FinalizedPeriod
from meterflow.domain.periods import Period
from meterflow.domain.replay import MaskRewrite, changed_hours, hour_runs, in_finalized_period, replaced_masks
from meterflow.domain.rollups import DaySlice, Rollup, hour_bit

SLICE = DaySlice(day=20_000, first_hour=3, last_hour=6)
T0 = datetime(2026, 3, 1, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_an_hour_changes_when_its_rollup_differs_and_only_hours_of_the_slice_are_compared() -> None:
    before = {3: Rollup(events=2, total=Decimal("1.0")), 4: Rollup(events=1), 9: Rollup(events=7)}
    after = {3: Rollup(events=2, total=Decimal("1.00")), 5: Rollup(events=1)}
    assert changed_hours(SLICE, before, after, {}, {}) == [4, 5]


def test_a_unique_figure_changes_with_the_values_seen_even_when_every_rollup_field_is_equal() -> None:
    rollup = {4: Rollup(events=1, valued=1)}
    before = {'"a"': hour_bit(4), '"b"': hour_bit(8)}
    after = {'"b"': hour_bit(4) | hour_bit(8)}
    assert changed_hours(SLICE, rollup, rollup, before, after) == [4]


def test_a_finalized_period_is_touched_by_any_hour_overlapping_it_even_partly() -> None:
    period = FinalizedPeriod("cus_1", "inv_1", T0 + timedelta(minutes=37), T0 + 2 * HOUR)
    assert in_finalized_period("cus_1", T0, [period])
    assert in_finalized_period("cus_1", T0 + HOUR, [period])
    assert not in_finalized_period("cus_1", T0 + 2 * HOUR, [period])
    assert not in_finalized_period("cus_1", T0 - HOUR, [period])
    assert not in_finalized_period("cus_2", T0, [period])


def test_hours_group_into_runs_of_consecutive_hours_whatever_their_order_and_repeats() -> None:
    starts = [T0 + 4 * HOUR, T0, T0 + HOUR, T0 + HOUR, T0 + 5 * HOUR]
    assert hour_runs(starts) == [Period(T0, T0 + 2 * HOUR), Period(T0 + 4 * HOUR, T0 + 6 * HOUR)]


def test_a_rebuilt_slice_takes_its_hours_masks_from_the_rebuild_and_keeps_the_others() -> None:
    stored = {'"a"': hour_bit(1) | hour_bit(4), '"b"': hour_bit(5), '"c"': hour_bit(9)}
    rebuilt = {'"a"': hour_bit(3), '"d"': hour_bit(6) | hour_bit(8)}
    rewrite = replaced_masks(SLICE, stored, rebuilt)
    assert rewrite.kept == {'"a"': hour_bit(1) | hour_bit(3), '"c"': hour_bit(9), '"d"': hour_bit(6)}
    assert rewrite.emptied == ['"b"']  # seen only in the slice, and not by the rebuild


def test_a_rebuilt_value_seen_only_outside_the_slice_is_neither_kept_nor_deleted() -> None:
    rewrite = replaced_masks(SLICE, {}, {'"x"': hour_bit(10)})
    assert rewrite == MaskRewrite(kept={}, emptied=[])


def test_replacing_a_slice_with_what_it_holds_changes_no_mask() -> None:
    stored = {'"a"': hour_bit(0) | hour_bit(4), '"b"': hour_bit(23)}
    in_slice = {value: mask & SLICE.hours_mask for value, mask in stored.items()}
    assert replaced_masks(SLICE, stored, in_slice) == MaskRewrite(kept=stored, emptied=[])
