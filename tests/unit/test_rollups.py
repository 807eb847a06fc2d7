"""Folding events into windows and merging windows gives billing.md §2 exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.events import Event
from meterflow.domain.periods import Period
from meterflow.domain.rollups import (
    Aggregation,
    MetricRule,
    Rollup,
    Window,
    day_slices,
    fold,
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
