"""An edge folded from a tally of its property's JSON texts (what Postgres hands over) is the fold of its
events, digit for digit, for every aggregation (docs/usage-edges.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.event_record import EventOnRecord, Position, ValueTally, fold_events, fold_tally
from meterflow.domain.events import decode_json
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import Aggregation, MetricRule, Observation, Rollup, fold, observed

NOW = datetime(2026, 2, 25, 10, tzinfo=UTC)
# JSON texts a property may carry on record: numbers and numeric strings written several ways (equal
# values, different texts), text, null, nesting; None stands for an event without the property.
TEXTS = ['1', '1.0', '"1.50"', '1.5', '-2.25', '1E+2', '100', '"0.10"', '0.1', '"x"', 'null', 'true', '[1, 2]',
         '{"a": 1}', '"  7 "', None]


def exactly(rollup: Rollup) -> tuple[object, ...]:
    return (rollup.events, rollup.valued, str(rollup.total), str(rollup.maximum), str(rollup.minimum),
            rollup.unbillable)


def on_record(texts: list[str | None]) -> list[EventOnRecord]:
    """One event a second, in the order given (the record's order)."""
    return [EventOnRecord(Mode.TEST, f"k{i:04d}", "cus_1", "tokens", NOW + timedelta(seconds=i),
                          {} if text is None else {"n": decode_json(text)}, NOW, Position("t", 0, i))
            for i, text in enumerate(texts)]


def tally_of(texts: list[str | None]) -> list[ValueTally]:
    """What the record's tally query answers: events per text, in order of each text's first event."""
    counts: dict[str | None, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    return [ValueTally(text, n) for text, n in counts.items()]


@given(st.lists(st.sampled_from(TEXTS), max_size=60), st.sampled_from(list(Aggregation)))
def test_a_tally_folds_to_the_fold_of_its_events(texts: list[str | None], aggregation: Aggregation) -> None:
    rule = MetricRule("met_1", "tokens", aggregation, None if aggregation is Aggregation.COUNT else "n")
    by_tally = fold_tally(rule, tally_of(texts) if rule.aggregation_property else [ValueTally(None, len(texts))])
    by_event = fold_events(rule, on_record(texts))
    assert (exactly(by_tally[0]), by_tally[1]) == (exactly(by_event[0]), by_event[1])


values = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False,
                     places=None)


@given(st.one_of(values.map(lambda v: Observation(value=v)), st.just(Observation()),
                 st.just(Observation(unbillable=True))), st.integers(1, 40))
def test_observing_n_events_at_once_is_folding_them_one_by_one(observation: Observation, times: int) -> None:
    assert exactly(observed(observation, times)) == exactly(reduce(fold, [observation] * times, Rollup()))
