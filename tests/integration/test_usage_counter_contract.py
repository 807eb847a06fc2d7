"""One contract for the usage-store port, run against the in-memory fake (tests/fakes/processing.py) and the real
Redis adapter: what unit tests learn from the fake holds for Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import pytest

from meterflow.adapters.redis_client import CLUSTER_SLOT_GROUPS, connect_redis
from meterflow.adapters.redis_keys import KeySpace
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.ports.usage import UsageCounter, UsageReader
from meterflow.domain.counting import Contribution, CountableEvent
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import COUNTED, Aggregation, Observation, quantity
from meterflow.domain.usage import PeriodUsage, UsageQuery
from meterflow.settings import Settings
from tests.fakes.processing import MemoryUsageStore
from tests.support import unique

pytestmark = pytest.mark.redis
HOUR = timedelta(hours=1)
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 4 * HOUR
BOUND = Decimal("999999999999999999.999999999999999999")
SPACE = KeySpace(CLUSTER_SLOT_GROUPS)


class CountingStore(UsageCounter, UsageReader, Protocol):
    pass


@pytest.fixture(params=["memory", "redis", pytest.param("redis_cluster", marks=pytest.mark.redis_cluster)])
async def store(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[CountingStore]:
    if request.param == "memory":
        yield MemoryUsageStore()
        return
    url = request.getfixturevalue("redis_cluster").url if request.param == "redis_cluster" else settings.redis_dsn
    redis = connect_redis(url)
    yield UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                     retention=timedelta(days=30))
    await redis.aclose()


class Books:
    """A fresh metric and customer per test, so the real Redis shares nothing between tests."""

    def __init__(self) -> None:
        self.metric, self.customer = unique("met"), unique("cus")

    def event(self, key: str, *, value: str | Decimal | None = None, distinct: str | None = None,
              hour: int = 0, mode: Mode = Mode.TEST) -> CountableEvent:
        observation = Observation(value=Decimal(value), distinct=distinct) if value is not None else (
            Observation(distinct=distinct) if distinct is not None else COUNTED)
        return CountableEvent(mode, key, self.customer, "tokens", START + hour * HOUR + timedelta(minutes=7),
                              (Contribution(self.metric, observation),))

    async def figure(self, store: CountingStore, first_hour: int = 0, hours: int = 4,
                     mode: Mode = Mode.TEST) -> PeriodUsage:
        period = Period(START + first_hour * HOUR, START + (first_hour + hours) * HOUR)
        [figure] = await store.usage([UsageQuery(mode, self.metric, self.customer, period)])
        return figure


async def test_a_replayed_batch_counts_nothing_twice(store: CountingStore) -> None:
    books = Books()
    batch = [books.event(unique("k"), value="1.5", hour=i % 3) for i in range(50)]
    first = await store.apply(batch, START)
    replay = await store.apply(batch, START)
    assert (len(first.counted), len(first.duplicates)) == (50, 0)
    assert (len(replay.counted), len(replay.duplicates)) == (0, 50)
    figure = await books.figure(store)
    assert (figure.rollup.events, figure.rollup.total) == (50, Decimal("75.0"))


async def test_the_first_event_of_a_key_wins_within_and_across_batches(store: CountingStore) -> None:
    books, key = Books(), unique("k")
    outcome = await store.apply([books.event(key, value="10"), books.event(key, value="99", hour=2)], START)
    await store.apply([books.event(key, value="7", hour=1)], START)
    assert [e.contributions[0].observation.value for e in outcome.counted] == [Decimal("10")]
    figure = await books.figure(store)
    assert (figure.rollup.events, figure.rollup.total) == (1, Decimal("10"))


async def test_the_same_key_counts_once_in_each_mode(store: CountingStore) -> None:
    books, key = Books(), unique("k")
    for mode in (Mode.TEST, Mode.LIVE, Mode.TEST, Mode.LIVE):
        await store.apply([books.event(key, value="2", mode=mode)], START)
    for mode in Mode:
        assert (await books.figure(store, mode=mode)).rollup.events == 1
        assert await store.known_keys(mode, [key, unique("other")]) == {key}


def books_of_two_slot_groups() -> tuple[Books, Books]:
    """Two customers whose rollups live in different slot groups of a cluster (one group on one node)."""
    first, second = Books(), Books()
    while SPACE.group_of_customer(second.customer) == SPACE.group_of_customer(first.customer):
        second = Books()
    return first, second


@pytest.mark.parametrize("arrival", ["first customer first", "second customer first", "one batch"])
async def test_a_key_reused_by_two_customers_counts_once_whoever_sends_it_first(
        store: CountingStore, arrival: str) -> None:
    """The dedupe key is (mode, idempotency key), whatever the customer: the first event counts, the
    other is a duplicate, and a replay of either batch changes nothing (on a cluster the customers' slot
    groups differ, so the key is decided in a group of its own)."""
    (one, other), key = books_of_two_slot_groups(), unique("k")
    events = [one.event(key, value="2"), other.event(key, value="5")]
    batches = {"first customer first": [events[:1], events[1:]], "second customer first": [events[1:], events[:1]],
               "one batch": [events]}[arrival]
    outcomes = [await store.apply(batch, START) for batch in batches]
    winner = batches[0][0]
    assert [e for o in outcomes for e in o.counted] == [winner]
    assert [e for o in outcomes for e in o.duplicates] == [e for e in events if e is not winner]
    replays = [await store.apply(batch, START) for batch in batches]
    assert [e for o in replays for e in o.counted] == []
    figures = [(await books.figure(store)).rollup for books in (one, other)]
    assert [(f.events, f.total) for f in figures] == [
        (1, winner.contributions[0].observation.value) if books.customer == winner.customer_id else (0, Decimal(0))
        for books in (one, other)]


async def test_a_key_sent_for_two_customers_at_once_counts_once(store: CountingStore) -> None:
    """Two processors counting the same key for two customers at the same moment: exactly one counts it."""
    (one, other), key = books_of_two_slot_groups(), unique("k")
    outcomes = await asyncio.gather(*(store.apply([books.event(key, value="3")], START) for books in (one, other)))
    assert sorted((len(o.counted), len(o.duplicates)) for o in outcomes) == [(0, 1), (1, 0)]
    assert [(await books.figure(store)).rollup.events for books in (one, other)] in ([1, 0], [0, 1])


async def test_a_record_twice_in_one_batch_counts_once_and_its_copy_is_recounted(store: CountingStore) -> None:
    """A spool that produced one event twice can put both copies in one fetch (same delivery id, the
    origin): the copy is that record again, not a duplicate to tally; another record of the key is."""
    books, key = Books(), unique("k")
    first = replace(books.event(key, value="4"), origin="5f3a.41")
    outcome = await store.apply([first, replace(first), replace(first, origin="5f3a.42")], START)
    assert (len(outcome.counted), len(outcome.recounted), len(outcome.duplicates)) == (1, 1, 1)
    replayed = await store.apply([first, first], START)
    assert (len(replayed.counted), len(replayed.recounted), len(replayed.duplicates)) == (0, 2, 0)
    assert (await books.figure(store)).rollup.events == 1


async def test_a_batch_with_nothing_to_count_counts_nothing(store: CountingStore) -> None:
    """A batch whose records were all dead letters still settles (it used to fail forever on Redis)."""
    outcome = await store.apply([], START)
    assert (outcome.counted, outcome.duplicates) == ([], [])


async def test_an_event_no_metric_reads_is_still_remembered(store: CountingStore) -> None:
    books, key = Books(), unique("k")
    unread = CountableEvent(Mode.TEST, key, books.customer, "tokens", START, ())
    assert len((await store.apply([unread], START)).counted) == 1
    assert len((await store.apply([books.event(key, value="1")], START)).duplicates) == 1
    assert (await books.figure(store)).rollup.events == 0


async def test_a_period_counts_its_own_hours_and_the_union_of_their_distinct_values(store: CountingStore) -> None:
    books = Books()
    await store.apply([books.event(unique("k"), distinct=value, hour=hour)
                       for value, hour in (("a", 0), ("b", 1), ("a", 2), ("c", 3), ("a", 3))], START)
    assert (await books.figure(store)).distinct_values == 3
    assert (await books.figure(store, first_hour=2, hours=2)).distinct_values == 2
    assert (await books.figure(store, first_hour=1, hours=1)).rollup.events == 1


async def test_sums_at_the_bounds_of_the_value_domain_are_exact(store: CountingStore) -> None:
    books = Books()
    values = [BOUND, BOUND.copy_negate(), BOUND] * 40 + [Decimal("-0.000000000000000001")]
    await store.apply([books.event(unique("k"), value=v, hour=i % 4) for i, v in enumerate(values)], START)
    rollup = (await books.figure(store)).rollup
    assert rollup.total == Decimal("39999999999999999999.999999999999999959")
    assert (rollup.maximum, rollup.minimum) == (BOUND, BOUND.copy_negate())
    assert quantity(Aggregation.AVERAGE, rollup) == Decimal("330578512396694214.876033")
