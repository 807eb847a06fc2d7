"""The usage store on a real 3-master Redis Cluster, beyond the shared contract: a batch of many customers
is counted in one transaction per slot group and read back exact, and a master killed with SIGKILL and
restarted on its AOF (fsynced on every write) loses nothing: a replay of the batches counts nothing twice,
and counting goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.adapters.redis_client import CLUSTER_SLOT_GROUPS, connect_redis
from meterflow.adapters.redis_keys import KeySpace
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.counting import Changes, Contribution, CountableEvent, RollupKey
from meterflow.domain.event_record import Position
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Observation
from meterflow.domain.usage import UsageQuery
from tests.redis_cluster import LocalRedisCluster
from tests.support import unique

pytestmark = pytest.mark.redis_cluster
HOUR = timedelta(hours=1)
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 2 * HOUR
CUSTOMERS = 40  # enough that a batch touches most of the 16 slot groups
SPACE = KeySpace(CLUSTER_SLOT_GROUPS)


@pytest.fixture
async def store(redis_cluster: LocalRedisCluster) -> AsyncIterator[UsageStore]:
    redis = connect_redis(redis_cluster.url)
    yield UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                     retention=timedelta(days=30))
    await redis.aclose()


def batch(metric: str, customers: list[str], size: int, value: str) -> list[CountableEvent]:
    return [CountableEvent(Mode.TEST, unique("k"), customers[i % len(customers)], "tokens",
                           START + timedelta(minutes=i % 60), (Contribution(metric, Observation(Decimal(value))),),
                           origin=f"0:{i}:1")
            for i in range(size)]


async def totals(store: UsageStore, metric: str, customers: list[str]) -> dict[str, Decimal]:
    period = Period(START, START + HOUR)
    figures = await store.usage([UsageQuery(Mode.TEST, metric, customer, period) for customer in customers])
    return {customer: figure.rollup.total for customer, figure in zip(customers, figures, strict=True)}


async def test_a_batch_of_many_customers_counts_once_per_event_across_slot_groups(store: UsageStore) -> None:
    metric, customers = unique("met"), [unique("cus") for _ in range(CUSTOMERS)]
    events = batch(metric, customers, 400, "0.25")
    assert len({SPACE.group_of_customer(c) for c in customers}) > 8
    first, replay = await store.apply(events, START), await store.apply(events, START)
    assert (len(first.counted), len(replay.counted), len(replay.recounted)) == (400, 0, 400)
    assert await totals(store, metric, customers) == dict.fromkeys(customers, Decimal("2.50"))
    assert await store.known_keys(Mode.TEST, [events[0].idempotency_key, unique("k")]) == {events[0].idempotency_key}


async def test_a_master_killed_and_restarted_on_its_aof_keeps_every_count(
        store: UsageStore, redis_cluster: LocalRedisCluster) -> None:
    metric, customers = unique("met"), [unique("cus") for _ in range(CUSTOMERS)]
    before, after = batch(metric, customers, 200, "1"), batch(metric, customers, 200, "3")
    await store.apply(before, START)
    victim = redis_cluster.node_of(SPACE.rollups(RollupKey(Mode.TEST, metric, customers[0], 0)))
    victim.kill()
    victim.start()
    redis_cluster.wait_healthy()
    replay = await store.apply(before, START)  # the batch whose offsets a killed processor had not committed
    await store.apply(after, START)
    assert (len(replay.counted), len(replay.recounted)) == (0, 200)
    assert await totals(store, metric, customers) == dict.fromkeys(customers, Decimal("20"))


async def test_a_rebuild_finds_every_customers_rollups_on_every_master(store: UsageStore) -> None:
    """Replay lists the customers with rollups by scanning every master, and rewrites each in its group."""
    metric, customers = unique("met"), [unique("cus") for _ in range(CUSTOMERS)]
    await store.apply(batch(metric, customers, 120, "1"), START)
    changed = await store.replace_hours(Mode.TEST, [metric], Period(START, START + HOUR), Changes())
    assert {c.customer_id for c in changed} == set(customers)
    assert await totals(store, metric, customers) == dict.fromkeys(customers, Decimal(0))


async def test_hot_marks_are_swept_in_every_slot_group_once_committed(store: UsageStore) -> None:
    """The sweep walks every group's hot slices: while partition 3's records are uncommitted a replay still
    finds its origins (`recounted`) in every group; once committed past, the origins are gone from all
    groups (a replay is a duplicate) and the counts are unchanged."""
    metric, customers = unique("met"), [unique("cus") for _ in range(CUSTOMERS)]
    events = [replace(event, position=Position("mf.events.test", 3, 10_000 + i))
              for i, event in enumerate(batch(metric, customers, 200, "1"))]
    await store.apply(events, START)
    offsets: dict[tuple[str, int], int] = {("mf.events.test", 3): 10_100}

    async def committed(partitions: object) -> dict[tuple[str, int], int]:
        return dict(offsets)
    await store.sweep_hot_marks(committed, START + 3 * HOUR)
    assert len((await store.apply(events, START)).recounted) == 200
    offsets[("mf.events.test", 3)] = 10_200
    await store.sweep_hot_marks(committed, START + 3 * HOUR)
    again = await store.apply(events, START)
    assert (len(again.recounted), len(again.duplicates)) == (0, 200)
    assert await totals(store, metric, customers) == dict.fromkeys(customers, Decimal(5))
