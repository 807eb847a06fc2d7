"""The usage store on a real 3-master Redis Cluster, beyond the shared contract: a batch of many customers
is counted in one transaction per slot group and read back exact, and a master killed with SIGKILL and
restarted on its AOF (fsynced on every write) loses nothing: a replay of the batches counts nothing twice,
and counting goes on."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.redis_client import CLUSTER_SLOT_GROUPS, connect_redis
from meterflow.adapters.redis_keys import KeySpace
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.accounting import Receipt, Source, hour_of
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


async def test_a_crash_between_the_claim_and_the_count_counts_each_key_once_on_replay(
        redis_cluster: LocalRedisCluster) -> None:
    """Killed after its keys were claimed (in the keys' slot groups) and before the count (in the
    customers'): the replay finds each key claimed by its own record and counts it then, once; a key
    reused by another customer is a duplicate each time; a second replay is `recounted`. The accounting
    figures (counted once per key, a duplicate record once) balance."""
    redis = connect_redis(redis_cluster.url)
    store = UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                       retention=timedelta(days=30), accounting=AccountingStore(redis, timedelta(days=1)))
    metric, customers = unique("met"), [unique("cus") for _ in range(CUSTOMERS)]
    hour = hour_of(START) + HOUR * random.randint(1_000, 1_000_000)  # an hour no other test accounts in
    receipt = Receipt(Mode.TEST, hour, Source.DIRECT)
    originals = [replace(event, receipt=receipt) for event in batch(metric, customers, 80, "1")]
    # The same keys sent again for the next customer (another slot group, mostly), by later records.
    reused = [replace(event, customer_id=customers[(i + 1) % CUSTOMERS], origin=f"1:{i}:1")
              for i, event in enumerate(originals[:30])]
    events = [*originals, *reused]
    assert await store.claim(events, START) == [True] * 80 + [False] * 30
    replay, again = await store.apply(events, START), await store.apply(events, START)
    assert (len(replay.counted), len(replay.recounted), len(replay.duplicates)) == (80, 0, 30)
    assert (len(again.counted), len(again.recounted), len(again.duplicates)) == (0, 80, 30)
    assert await totals(store, metric, customers) == dict.fromkeys(customers, Decimal(2))
    [tally] = await AccountingStore(redis, timedelta(days=1)).tallies(Mode.TEST, [hour])
    assert (tally.counted, tally.duplicates) == ({Source.HTTP: 0, Source.DIRECT: 80},
                                                 {Source.HTTP: 0, Source.DIRECT: 30})
    await redis.aclose()


async def test_an_applied_mark_outlives_the_claims_of_its_records(store: UsageStore) -> None:
    """A record a gateway's spool produces again after its first copy was committed carries the same
    origin: while its claim is kept it is its own claim, so its applied mark must be kept too, or it is
    counted twice. Here the claims' slice waits for records claimed in it and counted an hour later (a
    crash between the phases), while the applied slice of the first records is committed past: the
    sweep keeps it, the record produced again is `recounted`; once every claim is swept, a duplicate."""
    metric, customers = unique("met"), [unique("cus") for _ in range(CUSTOMERS)]
    events = [replace(event, position=Position("mf.events.test", 5, 20_000 + i))
              for i, event in enumerate(batch(metric, customers, 200, "1"))]
    counted_at_once, claimed_only = events[:100], events[100:]
    at = START - 24 * HOUR  # slices of their own: no other test writes or sweeps them
    await store.apply(counted_at_once, at)
    await store.claim(claimed_only, at)
    assert len((await store.apply(claimed_only, at + HOUR)).counted) == 100
    offsets: dict[tuple[str, int], int] = {("mf.events.test", 5): 20_100}

    async def committed(partitions: object) -> dict[tuple[str, int], int]:
        return dict(offsets)
    await store.sweep_hot_marks(committed, at + 3 * HOUR)
    produced_again = await store.apply(counted_at_once, at + 3 * HOUR)
    assert (len(produced_again.counted), len(produced_again.recounted)) == (0, 100)
    offsets[("mf.events.test", 5)] = 20_200
    await store.sweep_hot_marks(committed, at + 3 * HOUR)
    later = await store.apply(counted_at_once, at + 3 * HOUR)
    assert (len(later.counted), len(later.recounted), len(later.duplicates)) == (0, 0, 100)
    assert await totals(store, metric, customers) == dict.fromkeys(customers, Decimal(5))
