"""One contract for the accounting store (tests/fakes/accounting.py and the Redis adapter): what the unit
tests learn from the fake holds for Redis. Then, on Redis only, the figures the counting transaction writes:
counted once however often a batch is replayed, a duplicate record once, nothing on a conflict.

Each test accounts in an hour of its own, far ahead, so that the session's other tests (which account in
the current hour) never touch its figures."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from meterflow.adapters.accounting_store import AccountingStore, hour_key
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.accounting import HOUR, Receipt, Source, hour_of
from meterflow.domain.counting import Contribution, CountableEvent
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import COUNTED
from tests.fakes.accounting import MemoryAccounting
from tests.support import unique

pytestmark = pytest.mark.redis
RETENTION = timedelta(days=1)


@pytest.fixture
def hour() -> datetime:
    return hour_of(datetime.now(UTC)) + HOUR * random.randint(1_000, 1_000_000)


@pytest.fixture(params=["memory", "redis", pytest.param("redis_cluster", marks=pytest.mark.redis_cluster)])
async def book(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[Any]:
    if request.param == "redis_cluster":
        cluster = connect_redis(request.getfixturevalue("redis_cluster").url)
        yield AccountingStore(cluster, RETENTION)
        await cluster.aclose()
        return
    yield MemoryAccounting() if request.param == "memory" else AccountingStore(redis, RETENTION)


async def test_interim_increments_and_absolute_writers_add_up_and_republishing_changes_nothing(
        book: Any, hour: datetime) -> None:
    await book.add(Mode.TEST, hour + timedelta(minutes=59, seconds=59.999), 3)
    await book.add(Mode.TEST, hour, 2)
    await book.publish("spool-a", {(Mode.TEST, hour): 10, (Mode.LIVE, hour): 4})
    await book.publish("spool-a", {(Mode.TEST, hour): 12})  # absolute: the later count replaces it
    await book.publish("spool-a", {(Mode.TEST, hour): 12})  # again, after a lost reply: no change
    await book.publish("spool-b", {(Mode.TEST, hour): 1})
    [test_hour, next_hour] = await book.tallies(Mode.TEST, [hour, hour + HOUR])
    assert test_hour.acknowledged_http == 5 + 12 + 1 and next_hour.acknowledged_http == 0
    assert (await book.tallies(Mode.LIVE, [hour]))[0].acknowledged_http == 4
    with pytest.raises(ValueError):
        await book.publish("gateway", {(Mode.TEST, hour): 1})


async def test_a_dead_letter_is_one_per_record_position_by_source(book: Any, hour: datetime) -> None:
    http, direct = Receipt(Mode.LIVE, hour, Source.HTTP), Receipt(Mode.LIVE, hour, Source.DIRECT)
    await book.dead_lettered([(http, "t:0:5:1", "unknown_customer"), (direct, "t:1:5:1", "not_json")])
    await book.dead_lettered([(direct, "t:1:5:1", "not_json"), (direct, "t:1:6:1", "invalid_event")])
    [tally] = await book.tallies(Mode.LIVE, [hour])
    assert tally.dead_lettered == {Source.HTTP: 1, Source.DIRECT: 2}
    assert tally.outcome(Source.DIRECT) == 2


async def test_losses_are_recorded_absolute_and_acknowledged_once(book: Any, hour: datetime) -> None:
    await book.record_loss(Mode.TEST, {hour: 7, hour + HOUR: 2})
    assert await book.acknowledge_loss(Mode.TEST, [hour, hour + HOUR, hour + 2 * HOUR]) == 9
    assert await book.acknowledge_loss(Mode.TEST, [hour, hour + HOUR]) == 0
    await book.record_loss(Mode.TEST, {hour: 10})
    [first, second] = await book.tallies(Mode.TEST, [hour, hour + HOUR])
    assert (first.lost, first.loss_acknowledged, second.lost, second.loss_acknowledged) == (10, 7, 2, 2)
    assert await book.acknowledge_loss(Mode.TEST, [hour]) == 3


async def test_every_key_expires_the_retention_after_its_hour_ends(redis: Redis, hour: datetime) -> None:
    store = AccountingStore(redis, RETENTION)
    receipt = Receipt(Mode.TEST, hour, Source.DIRECT)
    await store.add(Mode.TEST, hour, 1)
    await store.dead_lettered([(receipt, "t:0:1:1", "not_json")])
    await store.record_loss(Mode.TEST, {hour: 1})
    base = hour_key(Mode.TEST, hour)
    expected = int((hour + HOUR + RETENTION).timestamp())
    for key in (base, f"{base}:ack", f"{base}:dl:d"):
        assert await redis.expiretime(key) == expected, key


def _event(key: str, receipt: Receipt, offset: int, customer: str) -> CountableEvent:
    return CountableEvent(Mode.TEST, key, customer, "tokens", datetime.now(UTC),
                          (Contribution(unique("met"), COUNTED),), f"0:{offset}:1", receipt)


async def test_the_counting_transaction_counts_a_key_once_and_a_duplicate_record_once_across_replays(
        redis: Redis, hour: datetime) -> None:
    accounting = AccountingStore(redis, RETENTION)
    usage = UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                       retention=timedelta(days=1), accounting=accounting)
    http, direct = Receipt(Mode.TEST, hour, Source.HTTP), Receipt(Mode.TEST, hour, Source.DIRECT)
    next_http = Receipt(Mode.TEST, hour + HOUR, Source.HTTP)
    customer, key = unique("cus"), unique("k")
    first = [_event(key, http, 1, customer), _event(unique("k"), direct, 2, customer),
             _event(key, direct, 3, customer),  # the same key again, a later record: a duplicate
             _event(unique("k"), http, 5, customer), _event(unique("k"), next_http, 6, customer)]
    outcome = await usage.apply(first, datetime.now(UTC))
    assert (len(outcome.counted), len(outcome.duplicates)) == (4, 1)
    replay = await usage.apply(first, datetime.now(UTC))  # a kill -9 after EXEC: read again, recounted
    assert (len(replay.counted), len(replay.recounted), len(replay.duplicates)) == (0, 4, 1)
    only_duplicates = await usage.apply([_event(key, direct, 4, customer)], datetime.now(UTC))
    assert len(only_duplicates.duplicates) == 1
    # Each receipt's counted events are tallied together, whatever their number or order in the batch.
    [tally, next_tally] = await accounting.tallies(Mode.TEST, [hour, hour + HOUR])
    assert tally.counted == {Source.HTTP: 2, Source.DIRECT: 1}
    assert next_tally.counted == {Source.HTTP: 1, Source.DIRECT: 0}
    assert tally.duplicates == {Source.HTTP: 0, Source.DIRECT: 2}
