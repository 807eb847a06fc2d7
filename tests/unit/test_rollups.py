"""Folding events into windows and merging windows gives docs/billing.md, "Aggregations" exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.events import Event
from meterflow.domain.periods import Period
from meterflow.domain.quantities import QUANTITY_CONTEXT
from meterflow.domain.rollups import (
    Aggregation,
    MetricRule,
    Observation,
    Rollup,
    Window,
    day_slices,
    fold,
    fold_all,
    merge_all,
    observe_event,
    quantity,
)

NOW = datetime(2026, 2, 25, 10, tzinfo=UTC)


def event(**properties: object) -> Event:
    return Event(event_name="tokens", customer_id="cus_1", idempotency_key="k", timestamp=NOW,
                 properties=properties)


def rule(aggregation: Aggregation) -> MetricRule:
    return MetricRule("met_1", "tokens", aggregation, None if aggregation is Aggregation.COUNT else "n")


def rolled(aggregation: Aggregation, *values: object) -> Rollup:
    rollup = Rollup()
    for value in values:
        rollup = fold(rollup, observe_event(rule(aggregation), event(n=value)))
    return rollup


def test_numeric_aggregations_are_exact_decimals() -> None:
    values = ["0.1", "0.2", Decimal("0.3"), 4, "12.5"]
    assert quantity(Aggregation.SUM, rolled(Aggregation.SUM, *values)) == Decimal("17.1")
    assert quantity(Aggregation.MAX, rolled(Aggregation.MAX, *values)) == Decimal("12.5")
    assert quantity(Aggregation.MINIMUM, rolled(Aggregation.MINIMUM, *values)) == Decimal("0.1")
    assert quantity(Aggregation.AVERAGE, rolled(Aggregation.AVERAGE, *values)) == Decimal("3.420000")


def test_average_is_quantized_half_up_to_six_places() -> None:
    assert quantity(Aggregation.AVERAGE, rolled(Aggregation.AVERAGE, 1, 1, 0)) == Decimal("0.666667")


def test_missing_or_non_numeric_property_is_unbillable_not_counted() -> None:
    rollup = rolled(Aggregation.SUM, 2, "abc", None, True, {"x": 1}, "3")
    assert quantity(Aggregation.SUM, rollup) == 5
    assert rollup.unbillable == 4
    no_property = fold(Rollup(), observe_event(rule(Aggregation.SUM), event()))
    assert no_property.unbillable == 1


def test_empty_figures_are_zero() -> None:
    for aggregation in Aggregation:
        assert quantity(aggregation, Rollup()) == 0


def test_unique_compares_by_json_text() -> None:
    observations = [observe_event(rule(Aggregation.UNIQUE), event(n=v)).distinct for v in (1, "1", 1, "a")]
    assert observations == ["1", '"1"', "1", '"a"']


def test_folding_a_run_of_observations_at_once_is_folding_them_in_turn() -> None:
    """The processor folds an hour's observations of a batch in one step: every count, the exact total
    with its exponent, and of two equal values written differently the earlier one as the maximum."""
    start = Rollup(events=1, valued=1, total=Decimal(1), maximum=Decimal(1), minimum=Decimal(1))
    runs = [Observation(Decimal("1.50")), Observation(Decimal("1.5")), Observation(), Observation(unbillable=True),
            Observation(Decimal(-2))]
    folded = fold_all(start, runs)
    assert folded == Rollup(events=5, valued=4, total=Decimal("2.00"), maximum=Decimal("1.5"), minimum=Decimal(-2),
                            unbillable=1)
    assert (str(folded.total), str(folded.maximum)) == ("2.00", "1.50")


@given(st.lists(st.decimals(min_value=-10**6, max_value=10**6, places=6), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=39))
def test_merging_windows_equals_folding_everything(values: list[Decimal], cut: int) -> None:
    whole = rolled(Aggregation.SUM, *values)
    parts = merge_all([rolled(Aggregation.SUM, *values[:cut]), rolled(Aggregation.SUM, *values[cut:])])
    assert parts == whole


def test_day_slices_cover_exactly_the_period_hours() -> None:
    period = Period(datetime(2026, 1, 1, 22, tzinfo=UTC), datetime(2026, 1, 3, 2, tzinfo=UTC))
    slices = list(day_slices(period))
    hours = [(s.day, h) for s in slices for h in range(24) if s.covers(h)]
    expected, at = [], period.start
    while at < period.end:
        w = Window.of(at)
        expected.append((w.day, w.hour))
        at += timedelta(hours=1)
    assert hours == expected


BOUND = Decimal("999999999999999999.999999999999999999")


def attos(units: int) -> Decimal:
    """An exact value given in units of 10^-18 (the finest a usage value may have)."""
    return Decimal(units).scaleb(-18, QUANTITY_CONTEXT)


BOUNDS = st.sampled_from([BOUND, BOUND.copy_negate(), Decimal("0.000000000000000001"), Decimal(0)])


@given(st.lists(BOUNDS, min_size=1, max_size=2_000), st.integers(min_value=1, max_value=1_999))
def test_sums_at_the_domain_bounds_never_lose_a_digit(values: list[Decimal], cut: int) -> None:
    """The exact sum, computed by integer arithmetic on 10^-18 units, equals folding and merging."""
    exact = attos(sum(int(v.scaleb(18, QUANTITY_CONTEXT)) for v in values))
    whole = rolled(Aggregation.SUM, *values)
    assert whole.total == exact
    assert merge_all([rolled(Aggregation.SUM, *values[:cut]), rolled(Aggregation.SUM, *values[cut:])]) == whole
    assert quantity(Aggregation.MAX, whole) == max(values) and quantity(Aggregation.MINIMUM, whole) == min(values)


def test_a_sum_of_many_bound_values_is_exact() -> None:
    rollup = Rollup()
    for _ in range(10_000):
        rollup = fold(rollup, observe_event(rule(Aggregation.SUM), event(n=BOUND)))
    units = 10**36 - 1  # BOUND in units of 10^-18
    assert rollup.total == attos(10_000 * units)
    assert quantity(Aggregation.SUM, merge_all([rollup] * 1_000)) == attos(10_000_000 * units)


def test_average_over_huge_values_is_exact_to_six_places() -> None:
    assert quantity(Aggregation.AVERAGE, rolled(Aggregation.AVERAGE, BOUND, BOUND, "-0.5")) == Decimal(
        "666666666666666666.500000")
    huge = Rollup(events=3, valued=3, total=Decimal("1e22"))  # a stored figure far above one value's bound
    assert quantity(Aggregation.AVERAGE, huge) == Decimal("3333333333333333333333.333333")


def test_negative_values_and_sums_are_shown_as_they_are() -> None:
    rollup = rolled(Aggregation.SUM, "-5", "2")
    assert quantity(Aggregation.SUM, rollup) == Decimal(-3)
    assert quantity(Aggregation.MINIMUM, rollup) == Decimal(-5)


@pytest.mark.parametrize("value", ["1e9999999", "1e22", "-1e18", "0.0000000000000000001", "NaN"])
def test_a_numeric_string_outside_the_domain_is_unbillable_never_a_crash(value: str) -> None:
    # JSON numbers outside the domain never get this far: parse_event refuses the event (test_events.py).
    for aggregation in (Aggregation.SUM, Aggregation.AVERAGE, Aggregation.MAX, Aggregation.MINIMUM):
        assert observe_event(rule(aggregation), event(n=value)) == Observation(unbillable=True)


def test_rollup_arithmetic_does_not_depend_on_the_thread_context() -> None:
    assert QUANTITY_CONTEXT.prec >= 60
    assert rolled(Aggregation.SUM, BOUND, BOUND).total == Decimal("1999999999999999999.999999999999999998")
