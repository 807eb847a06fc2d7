"""The counting rule, pure: the first event of a key wins, and counting a batch twice changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.counting import (
    Contribution,
    CountableEvent,
    RollupKey,
    StoredState,
    count_batch,
    reads_needed,
)
from meterflow.domain.late_events import FinalizedPeriod, find_late
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import Observation, Window

AT = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
DAY = Window.of(AT).day


def event(key: str, value: str = "1", *, mode: Mode = Mode.TEST, distinct: str | None = None,
          at: datetime = AT, customer: str = "cus_1") -> CountableEvent:
    return CountableEvent(mode, key, customer, "tokens", at,
                          (Contribution("met_1", Observation(value=Decimal(value), distinct=distinct)),))


def apply(state: StoredState, events: list[CountableEvent]) -> StoredState:
    """What the store does with the rule's answer: remember the counted keys, keep the changed days."""
    outcome, changes = count_batch(events, state)
    return StoredState(state.counted | {e.dedupe_key for e in outcome.counted},
                       state.rollups | changes.rollups, state.distinct | changes.distinct)


def test_the_first_event_of_a_key_wins_and_later_ones_are_duplicates() -> None:
    first, again, other_mode = event("k", "10"), event("k", "99"), event("k", "5", mode=Mode.LIVE)
    outcome, changes = count_batch([first, again, other_mode], StoredState())
    assert outcome.counted == [first, other_mode] and outcome.duplicates == [again]
    assert changes.rollups[RollupKey(Mode.TEST, "met_1", "cus_1", DAY)][10].total == Decimal("10")


def test_a_key_already_stored_is_a_duplicate() -> None:
    outcome, changes = count_batch([event("k")], StoredState(counted={(Mode.TEST, "k")}))
    assert outcome.duplicates == [event("k")] and not outcome.counted and not changes.rollups


def test_a_record_twice_in_one_batch_is_recounted_and_another_record_of_its_key_a_duplicate() -> None:
    """A spool that produced one event twice (a round sent again after the broker took the first) can put
    both copies in one fetch: the second is that same record (same delivery id), not a duplicate to tally."""
    spooled = replace(event("k", "10"), origin="5f3a.41")
    copy, other = replace(spooled, origin="5f3a.41"), replace(event("k", "99"), origin="5f3a.42")
    outcome, changes = count_batch([spooled, copy, other], StoredState())
    assert (outcome.counted, outcome.recounted, outcome.duplicates) == ([spooled], [copy], [other])
    assert changes.rollups[RollupKey(Mode.TEST, "met_1", "cus_1", DAY)][10].total == Decimal("10")


def test_distinct_values_keep_the_hours_they_were_seen_in() -> None:
    events = [event("a", distinct="x"), event("b", distinct="x", at=AT + timedelta(hours=2)),
              event("c", distinct="y")]
    _, changes = count_batch(events, StoredState())
    assert changes.distinct[RollupKey(Mode.TEST, "met_1", "cus_1", DAY)] == {"x": 1 << 10 | 1 << 12, "y": 1 << 10}
    assert reads_needed(events).distinct == {RollupKey(Mode.TEST, "met_1", "cus_1", DAY): ["x", "y"]}


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(-5, 5)), max_size=30), st.integers(0, 30))
def test_counting_in_pieces_or_again_gives_the_same_state(items: list[tuple[str, int]], cut: int) -> None:
    events = [event(key, str(value)) for key, value in items]
    whole = apply(StoredState(), events)
    pieces = apply(apply(StoredState(), events[:cut]), events[cut:])
    assert (pieces.counted, pieces.rollups) == (whole.counted, whole.rollups)
    assert apply(whole, events).rollups == whole.rollups


def test_an_event_is_late_when_its_customer_has_a_finalized_period_holding_it() -> None:
    period = FinalizedPeriod("cus_1", "inv_1", AT - timedelta(days=1), AT + timedelta(seconds=1))
    late = find_late([event("in"), event("other", customer="cus_2"), event("after", at=period.end)], [period])
    assert [(e.idempotency_key, e.invoice_id) for e in late] == [("in", "inv_1")]
