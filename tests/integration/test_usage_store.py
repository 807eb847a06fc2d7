"""The usage store against real Redis: marks and rollups commit together, so replays change nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from meterflow.adapters.dedupe_marks import MarkLayout, digest, legacy_key
from meterflow.adapters.redis_keys import MARKS_PREFIX
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.counting import Changes, Contribution, CountableEvent
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Observation
from meterflow.domain.usage import UsageQuery
from tests.support import unique

pytestmark = pytest.mark.redis
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOUR = timedelta(hours=1)


def store(redis: Redis) -> UsageStore:
    return UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                      retention=timedelta(days=30))


def events(metric: str, customer: str, n: int, mode: Mode = Mode.TEST, value: str = "1.5",
           keys: list[str] | None = None) -> list[CountableEvent]:
    keys = keys or [unique("k") for _ in range(n)]
    return [CountableEvent(mode, key, customer, "tokens", NOW + timedelta(minutes=i % 120), (
        Contribution(metric, Observation(value=Decimal(value))),)) for i, key in enumerate(keys)]


async def total(s: UsageStore, metric: str, customer: str, mode: Mode = Mode.TEST) -> tuple[int, Decimal]:
    [figure] = await s.usage([UsageQuery(mode, metric, customer, Period(NOW - HOUR, NOW + 3 * HOUR))])
    return figure.rollup.events, figure.rollup.total


async def test_applying_the_same_batch_twice_counts_it_once(redis: Redis) -> None:
    s, metric, customer = store(redis), unique("met"), unique("cus")
    batch = events(metric, customer, 300)
    first = await s.apply(batch, NOW)
    replay = await s.apply(batch, NOW)
    assert (len(first.counted), len(first.duplicates)) == (300, 0)
    assert (len(replay.counted), len(replay.duplicates)) == (0, 300)
    assert await total(s, metric, customer) == (300, Decimal("450.0"))


async def test_first_event_of_a_key_wins_within_and_across_batches(redis: Redis) -> None:
    s, metric, customer = store(redis), unique("met"), unique("cus")
    key = unique("k")
    await s.apply(events(metric, customer, 2, value="10", keys=[key, key]), NOW)
    await s.apply(events(metric, customer, 1, value="99", keys=[key]), NOW)
    assert await total(s, metric, customer) == (1, Decimal("10"))


async def test_same_key_in_test_and_live_counts_once_in_each(redis: Redis) -> None:
    s, metric, customer, key = store(redis), unique("met"), unique("cus"), unique("k")
    for mode in Mode:
        await s.apply(events(metric, customer, 1, mode=mode, keys=[key]), NOW)
        await s.apply(events(metric, customer, 1, mode=mode, keys=[key]), NOW)
    assert await total(s, metric, customer, Mode.TEST) == (1, Decimal("1.5"))
    assert await total(s, metric, customer, Mode.LIVE) == (1, Decimal("1.5"))


async def test_concurrent_overlapping_batches_count_every_key_once(redis: Redis) -> None:
    """Two processors racing on the same keys (a rebalance with a zombie): WATCH makes one retry."""
    s, metric, customer = store(redis), unique("met"), unique("cus")
    keys = [unique("k") for _ in range(2000)]
    batches = [events(metric, customer, 0, keys=keys[i:i + 500]) for i in range(0, 2000, 250)]
    outcomes = await asyncio.gather(*(s.apply(b, NOW) for b in batches))
    assert sum(len(o.counted) for o in outcomes) == 2000
    assert await total(s, metric, customer) == (2000, Decimal("3000.0"))


async def test_dedupe_keys_expire_after_event_time_plus_window(redis: Redis) -> None:
    """A mark's hash expires with its slice: at least W + skew after the event, at most a slice later."""
    s, metric, customer = store(redis), unique("met"), unique("cus")
    [event] = events(metric, customer, 1)
    now = datetime.now(UTC)
    await s.apply([event], now)
    width = timedelta(days=7, minutes=10)
    bucket = MarkLayout(MARKS_PREFIX, int(width.total_seconds()), 12).bucket_of(
        Mode.TEST, digest(event.idempotency_key), int(now.timestamp()))
    assert await redis.hlen(bucket) >= 1
    ttl = await redis.ttl(bucket)
    needed = (event.timestamp + timedelta(days=7, minutes=5) - datetime.now(UTC)).total_seconds()
    assert needed - 5 <= ttl <= needed + width.total_seconds() + 5


async def test_a_process_finds_marks_in_slices_it_had_not_read(redis: Redis) -> None:
    """The scripts touch only the buckets their caller names, from the slices it last read: a fresh process
    (nothing read) and a process that read before another layout's slice began (another W) both find the
    marks there, after the script sends them to read the registries again."""
    metric, customer = unique("met"), unique("cus")
    first, key = store(redis), unique("k")
    other = UsageStore(redis, dedupe_window=timedelta(days=3), clock_skew=timedelta(minutes=5),
                       retention=timedelta(days=30))
    [counted] = events(metric, customer, 1, keys=[key])
    assert len((await first.apply([counted], NOW)).counted) == 1
    assert len((await other.apply(events(metric, customer, 1, keys=[key]), NOW)).duplicates) == 1
    later = unique("k")
    assert len((await other.apply(events(metric, customer, 1, keys=[later]), NOW)).counted) == 1
    assert len((await first.apply(events(metric, customer, 1, keys=[later]), NOW)).duplicates) == 1
    assert await store(redis).known_keys(Mode.TEST, [key, later, unique("k")]) == {key, later}
    assert await total(first, metric, customer) == (2, Decimal("3.0"))


async def test_marks_of_the_previous_layout_are_still_honoured(redis: Redis) -> None:
    """A key marked by the previous layout (a string key per mark) is a duplicate until it expires, and a
    record whose origin it names is recognised as the one counted."""
    s, metric, customer = store(redis), unique("met"), unique("cus")
    plain, named = events(metric, customer, 2)
    named = replace(named, origin="3:1000042:1764081416123456")
    await redis.set(legacy_key(Mode.TEST, digest(plain.idempotency_key)), "1", ex=60)
    await redis.set(legacy_key(Mode.TEST, digest(named.idempotency_key)), named.origin or "", ex=60)
    outcome = await s.apply([plain, named], NOW)
    assert (outcome.counted, outcome.duplicates, outcome.recounted) == ([], [plain], [named])
    assert await s.known_keys(Mode.TEST, [plain.idempotency_key, named.idempotency_key, unique("k")]) == {
        plain.idempotency_key, named.idempotency_key}
    assert await total(s, metric, customer) == (0, Decimal(0))


async def test_a_mark_keeps_the_origin_of_the_record_counted(redis: Redis) -> None:
    s, metric, customer = store(redis), unique("met"), unique("cus")
    [first] = events(metric, customer, 1)
    first = replace(first, origin="1:281474976710655:1764081416123456")  # the largest packed offset
    [other] = events(metric, customer, 1, keys=[first.idempotency_key])
    other = replace(other, origin="2:7:1764081416123456")
    await s.apply([first], NOW)
    again = await s.apply([first, other], NOW)
    assert (again.counted, again.recounted, again.duplicates) == ([], [first], [other])


async def test_a_rebuild_empties_the_hours_of_a_customer_with_rollups_but_nothing_rebuilt_and_says_which(
        redis: Redis) -> None:
    """Replay writes what the events on record say: a customer whose rollups the record does not explain
    (tampered, or counted past the record's retention) is emptied in the rebuilt hours, not skipped."""
    s, metric, customer, kept = store(redis), unique("met"), unique("cus"), unique("cus")
    await s.apply(events(metric, customer, 4) + events(metric, kept, 2), NOW)  # minutes 0-3: the first hour
    hours = Period(NOW - HOUR, NOW + HOUR)
    nothing_on_record = Changes()
    changed = await s.replace_hours(Mode.TEST, [metric], hours, nothing_on_record)
    assert {(c.customer_id, c.metric_id, c.start) for c in changed} == {(customer, metric, NOW), (kept, metric, NOW)}
    assert await total(s, metric, customer) == (0, Decimal(0))
    assert await s.replace_hours(Mode.TEST, [metric], hours, nothing_on_record) == []  # nothing left to change
