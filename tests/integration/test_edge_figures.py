"""Usage to the second against real Postgres and Redis: every aggregation's figure over any [start, end)
equals the aggregation of the events on record in it, whether an edge is folded or read from a kept
figure, and after a late event and a replay of the hours (docs/usage-edges.md)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.edge_figure_repository import EdgeFigureRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.count_usage import contributions
from meterflow.application.edge_recounts import EdgeRecounts
from meterflow.application.exact_usage import ExactUsage
from meterflow.application.replay import rebuild_hours
from meterflow.clock import SystemClock
from meterflow.domain.catalog import Metric
from meterflow.domain.counting import CountableEvent
from meterflow.domain.edge_figures import Edge, EdgeFigure, EdgeRules
from meterflow.domain.event_record import (
    EventFilter,
    EventOnRecord,
    Position,
    ValueTally,
    as_event,
    origin_token,
    usage_of,
)
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.rollups import Aggregation
from meterflow.domain.usage import PeriodUsage, UsageQuery
from tests.support import unique

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
HOUR = datetime(2026, 11, 20, 13, tzinfo=UTC)  # within the rollups' retention of the store below
SKEW = timedelta(minutes=5)
VALUES: list[Any] = ["0.1", "2.5", 7, "-3", "not a number", None, "1E+2", 42, "0.10", "x", "2.5"]


class CountedFolds(EventRecordRepository):
    """The real record, counting the folds asked of it."""

    folds = 0

    def tally(self, mode: Mode, wanted: EventFilter, prop: str | None,
              chunk: int = 5_000) -> AsyncIterator[list[ValueTally]]:
        self.folds += 1
        return super().tally(mode, wanted, prop, chunk)


class CountedMetricReads(CatalogRepository):
    """The real catalog, counting the metric reads asked of it."""

    metric_reads = 0

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]:
        self.metric_reads += 1
        return await super().metrics_by_id(mode, ids)


class World:
    def __init__(self, pool: Pool, redis: Redis) -> None:
        self.pool, self.event_name, self.customer = pool, unique("edge"), unique("cus")
        self.catalog, self.record = CountedMetricReads(pool), CountedFolds(pool)
        self.store = UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                                retention=timedelta(days=400))
        self.metrics: list[Metric] = []
        self.on_record: list[EventOnRecord] = []
        self.offset = 0

    async def open(self) -> None:
        for aggregation in Aggregation:
            prop = None if aggregation is Aggregation.COUNT else "n"
            metric = Metric(new_id(IdKind.METRIC), Mode.TEST, aggregation.value, self.event_name, aggregation, prop,
                            None, HOUR)
            await self.catalog.add_metric(metric)
            self.metrics.append(metric)

    def usage(self) -> ExactUsage:
        """Each call a new reader: nothing is remembered between calls but what the store keeps."""
        return ExactUsage(self.store, self.record, self.catalog, EdgeFigureRepository(self.pool),
                          EdgeRecounts[EdgeFigure](), EdgeRules(keep_from_events=0, future_tolerance=SKEW),
                          SystemClock())

    async def count(self, stamps: Sequence[datetime]) -> None:
        """What the processor does with each event: count it into the rollups, then put it on record."""
        rules = [m.rule for m in self.metrics]
        events = []
        for at in stamps:
            value = VALUES[self.offset % len(VALUES)]
            events.append(EventOnRecord(Mode.TEST, unique("k"), self.customer, self.event_name, at,
                                        {} if value is None else {"n": value}, at, Position("t", 0, self.offset)))
            self.offset += 1
        counted = [CountableEvent(Mode.TEST, e.idempotency_key, e.customer_id, e.event_name, e.timestamp,
                                  contributions(as_event(e), rules), origin_token(e.position, e.timestamp))
                   for e in events]
        await self.store.apply(counted, datetime.now(UTC))
        await self.record.add(events)
        self.on_record += events

    def expected(self, metric: Metric, period: Period) -> PeriodUsage:
        """The aggregations of docs/billing.md themselves: over the events on record in [start, end), in their order
        on record (of equal values written differently, `max` and `minimum` show the first)."""
        events = sorted(self.on_record, key=lambda e: (e.timestamp, e.idempotency_key))
        return usage_of(metric.rule, [e for e in events if period.start <= e.timestamp < period.end])

    async def check(self, periods: Sequence[Period]) -> None:
        queries = [UsageQuery(Mode.TEST, m.id, self.customer, p) for p in periods for m in self.metrics]
        figures = await self.usage().usage(queries)
        wanted = [self.expected(m, p) for p in periods for m in self.metrics]
        assert [(q.period, q.metric_id, exactly(f)) for q, f in zip(queries, figures, strict=True)] == [
            (q.period, q.metric_id, exactly(w)) for q, w in zip(queries, wanted, strict=True)]


def exactly(figure: PeriodUsage) -> tuple[object, ...]:
    """A figure with its numbers as text: 0.20 and 0.2 are equal Decimals but not the same figure."""
    r = figure.rollup
    return r.events, r.valued, str(r.total), str(r.maximum), str(r.minimum), r.unbillable, figure.distinct_values


def windows(rng: random.Random, count: int) -> list[Period]:
    """Windows to the second around and inside the three hours the events fall in."""
    found = []
    for _ in range(count):
        start = HOUR + timedelta(seconds=rng.randrange(-600, 3 * 3600))
        found.append(Period(start, start + timedelta(seconds=rng.randrange(1, 3 * 3600))))
    return found


@pytest.fixture
async def world(pool: Pool, redis: Redis) -> World:
    world = World(pool, redis)
    await world.open()
    # Distinct seconds: of two equal values written differently ("0.1", "0.10") in the very same
    # microsecond, which one `minimum` shows is not fixed (docs/usage-edges.md); their value is.
    seconds = random.Random(20).sample(range(3 * 3600), 300)
    await world.count([HOUR + timedelta(seconds=s) for s in seconds])
    return world


async def test_every_aggregation_over_any_window_to_the_second_is_the_aggregation_of_its_events(
        world: World) -> None:
    periods = [Period(HOUR + timedelta(minutes=37, seconds=12), HOUR + timedelta(hours=2, minutes=20, seconds=1)),
               Period(HOUR + timedelta(minutes=10), HOUR + timedelta(minutes=50)),
               Period(HOUR + timedelta(minutes=50), HOUR + timedelta(minutes=70)),
               Period(HOUR, HOUR + timedelta(hours=3)), *windows(random.Random(7), 40)]
    await world.check(periods)  # edges folded from the record, and kept
    await world.check(periods)  # edges read from the kept figures


async def test_a_kept_edge_figure_is_read_back_as_folded_and_only_at_its_hours_version(world: World) -> None:
    edge_period = Period(HOUR + timedelta(minutes=37, seconds=12), HOUR + timedelta(hours=1))
    await world.check([edge_period])
    unique_metric = next(m for m in world.metrics if m.aggregation is Aggregation.UNIQUE)
    edge = Edge(Mode.TEST, unique_metric.id, world.customer, world.event_name, edge_period)
    [state] = await EdgeFigureRepository(world.pool).states([edge])
    assert state.figure is not None and state.version > 0
    assert PeriodUsage(state.figure.rollup, len(state.figure.values)) == world.expected(unique_metric, edge_period)
    await world.count([HOUR + timedelta(hours=2)])  # another hour: this edge's figure still holds
    [same] = await EdgeFigureRepository(world.pool).states([edge])
    assert same == state
    await world.count([HOUR + timedelta(minutes=59)])  # its own hour: the figure no longer holds
    [after] = await EdgeFigureRepository(world.pool).states([edge])
    assert after.version == state.version + 1 and after.figure is None


async def test_a_late_event_in_a_kept_edge_is_counted_by_the_next_call(world: World) -> None:
    periods = [Period(HOUR + timedelta(minutes=37, seconds=12), HOUR + timedelta(hours=2, minutes=20, seconds=1))]
    await world.check(periods)
    # Late: after the edge figures were kept, events land in both edges and in a whole hour between.
    await world.count([HOUR + timedelta(minutes=40), HOUR + timedelta(hours=2, minutes=20),
                       HOUR + timedelta(hours=1, minutes=5), HOUR + timedelta(minutes=37, seconds=11)])
    await world.check(periods)


async def test_a_replay_of_the_hours_changes_no_figure(world: World) -> None:
    periods = [Period(HOUR + timedelta(minutes=37, seconds=12), HOUR + timedelta(hours=2, minutes=20, seconds=1)),
               *windows(random.Random(11), 10)]
    await world.check(periods)
    await rebuild_hours(world.catalog, world.record, world.store, Mode.TEST, Period(HOUR, HOUR + timedelta(hours=3)),
                        world.event_name)
    await world.check(periods)
    await world.count([HOUR + timedelta(minutes=45)])
    await rebuild_hours(world.catalog, world.record, world.store, Mode.TEST, Period(HOUR, HOUR + timedelta(hours=3)),
                        world.event_name)
    await world.check(periods)


async def test_metrics_the_caller_has_read_are_not_read_again(world: World) -> None:
    """A close chunk reads its plans' metrics once: handed them, the reader asks the catalog for none,
    and answers the figures it answers when it reads them itself."""
    period = Period(HOUR + timedelta(minutes=37, seconds=12), HOUR + timedelta(hours=2, minutes=20, seconds=1))
    queries = [UsageQuery(Mode.TEST, m.id, world.customer, period) for m in world.metrics]
    handed = await world.usage().usage(queries, known=world.metrics)
    assert world.catalog.metric_reads == 0
    assert await world.usage().usage(queries) == handed and world.catalog.metric_reads == 1


async def test_a_kept_edge_is_read_not_folded_again_and_concurrent_callers_fold_it_once(world: World) -> None:
    period = Period(HOUR + timedelta(minutes=37, seconds=12), HOUR + timedelta(hours=2, minutes=20, seconds=1))
    queries = [UsageQuery(Mode.TEST, m.id, world.customer, period) for m in world.metrics]
    reader = world.usage()
    first = await asyncio.gather(*(reader.usage(queries) for _ in range(4)))
    assert world.record.folds == 2 * len(world.metrics)  # each edge of each metric folded once for all four
    assert await world.usage().usage(queries) == first[0] and world.record.folds == 2 * len(world.metrics)


async def test_an_edge_ahead_of_now_is_not_read_until_its_hour_is_written_to(world: World) -> None:
    """A current period's end edge costs no fold; an event stamped there all the same (a direct Kafka
    producer sets its own receipt time) is counted."""
    ahead = align_to_hour(datetime.now(UTC)) + timedelta(hours=3)
    period = Period(ahead + timedelta(minutes=10), ahead + timedelta(minutes=50))
    await world.check([period])
    assert world.record.folds == 0
    await world.count([ahead + timedelta(minutes=20)])
    await world.check([period])
    assert world.record.folds == len(world.metrics)


async def test_a_tally_of_many_texts_comes_in_chunks_and_the_same_order(world: World) -> None:
    """Past one chunk of distinct texts the tally is read through a cursor: the same tally."""
    wanted = EventFilter(world.customer, (world.event_name,), start=HOUR, end=HOUR + timedelta(hours=3))
    whole = [t async for chunk in world.record.tally(Mode.TEST, wanted, "n") for t in chunk]
    chunks = [chunk async for chunk in world.record.tally(Mode.TEST, wanted, "n", chunk=4)]
    assert len(whole) > 4 and all(len(chunk) <= 4 for chunk in chunks)
    assert [t for chunk in chunks for t in chunk] == whole
    assert sum(t.events for t in whole) == len(world.on_record)
