"""The rules of edge figures: when a kept figure holds, which edges need no read, which folds are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterflow.domain.edge_figures import EdgeRules, usable
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Rollup

NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
RULES = EdgeRules(keep_from_events=1_000, future_tolerance=timedelta(minutes=5))


def test_a_kept_figure_holds_only_at_the_version_it_was_folded_at() -> None:
    assert usable(7, 7)
    assert not usable(8, 7)  # a row was written to its hour since
    assert not usable(0, None)


def test_an_edge_is_known_empty_only_ahead_of_what_ingest_accepts_and_in_an_hour_never_written() -> None:
    at_limit = Period(NOW + timedelta(minutes=5), NOW + timedelta(minutes=30))
    beyond = Period(NOW + timedelta(minutes=5, seconds=1), NOW + timedelta(minutes=30))
    assert not RULES.known_empty(at_limit, 0, NOW)  # an event stamped exactly 5 minutes ahead is accepted
    assert RULES.known_empty(beyond, 0, NOW)
    assert not RULES.known_empty(beyond, 1, NOW)  # written to all the same (a direct producer's clock)
    assert not RULES.known_empty(Period(NOW - timedelta(minutes=20), NOW), 0, NOW)


def test_only_folds_of_many_events_are_kept() -> None:
    assert RULES.worth_keeping(Rollup(events=999, unbillable=1))
    assert not RULES.worth_keeping(Rollup(events=998, unbillable=1))
