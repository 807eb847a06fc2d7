"""The usage store against real Redis: marks and rollups commit together, so replays change nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from meterflow.adapters.dedupe_marks import MarkLayout, digest, encode_origin, learn_slices, lookup_args, write_args
from meterflow.adapters.redis_keys import COLD_MARKS_PREFIX, HOT_MARKS_PREFIX, MARKS_PREFIX
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.counting import Changes, Contribution, CountableEvent
from meterflow.domain.event_record import Position
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Observation
from meterflow.domain.usage import UsageQuery
from tests.support import unique

pytestmark = pytest.mark.redis
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOUR = timedelta(hours=1)


WIDTH_S = int(timedelta(days=7, minutes=10).total_seconds())


def store(redis: Redis, bits: int = 16) -> UsageStore:
    return UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                      retention=timedelta(days=30), mark_bucket_bits=bits)


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
    """A cold mark's packed bucket expires with its slice: at least W + skew after the event, at most a
    slice later; it holds the key's 10-byte field and nothing else."""
    s, metric, customer = store(redis), unique("met"), unique("cus")
    [event] = events(metric, customer, 1)
    now = datetime.now(UTC)
    await s.apply([event], now)
    key_digest = digest(event.idempotency_key)
    bucket = MarkLayout(COLD_MARKS_PREFIX, WIDTH_S, 16, packed=True).bucket_of(Mode.TEST, key_digest,
                                                                               int(now.timestamp()))
    size = await redis.strlen(bucket)
    assert size >= 10 and size % 10 == 0
    assert await s.known_keys(Mode.TEST, [event.idempotency_key]) == {event.idempotency_key}
    ttl = await redis.ttl(bucket)
    needed = (event.timestamp + timedelta(days=7, minutes=5) - datetime.now(UTC)).total_seconds()
    assert needed - 5 <= ttl <= needed + WIDTH_S + 5


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
    """A key marked by the previous layout (hashes of W + 2·skew slices, the origin as value) is a
    duplicate until it expires, and a record whose origin it names is recognised as the one counted."""
    s, metric, customer = store(redis), unique("met"), unique("cus")
    plain, named = events(metric, customer, 2)
    named = replace(named, origin="3:1000042:1764081416123456")
    previous = MarkLayout(MARKS_PREFIX, WIDTH_S, 12)
    marks = [(Mode.TEST, digest(plain.idempotency_key), b""),
             (Mode.TEST, digest(named.idempotency_key), encode_origin(named.origin))]
    script, keys, args = write_args([previous], marks, int(NOW.timestamp()), int(NOW.timestamp()) + 60)
    await redis.eval(script, len(keys), *keys, *args)
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


HOT_WIDTH_S = 3_600


def at(event: CountableEvent, topic: str, partition: int, offset: int) -> CountableEvent:
    """The event as the processor counts it: read at this position, named by it."""
    return replace(event, position=Position(topic, partition, offset), origin=f"{partition}:{offset}:1")


class Committed:
    """The processor group's committed offsets, as the sweep reads them (set by the test)."""

    def __init__(self, offsets: dict[tuple[str, int], int]) -> None:
        self.offsets = offsets

    async def __call__(self, partitions: object) -> dict[tuple[str, int], int]:
        return dict(self.offsets)


async def hot_slice_listed(redis: Redis, then: datetime) -> bool:
    """Whether the hot slice of `then`'s hour (default bits: 16 - 7) is still listed in its registry.
    Each test writes into an hour of its own, so tests running at once do not share a slice."""
    name = f"{int(then.timestamp()) // HOT_WIDTH_S * HOT_WIDTH_S}:{HOT_WIDTH_S}:9"
    listed = await redis.hexists(f"{HOT_MARKS_PREFIX}:{Mode.TEST.value}", name)
    buckets = await redis.keys(f"{HOT_MARKS_PREFIX}:{Mode.TEST.value}:{name}:*")
    assert bool(listed) or not buckets, "an unlisted slice left buckets behind"
    return bool(listed)


async def test_a_hot_slice_stays_until_the_processors_committed_past_every_record_it_marks(redis: Redis) -> None:
    """Counted three hours ago in partitions 0 and 1: while partition 1's offsets are uncommitted the slice
    (and so the origin a replay needs) stays, however old; once committed past, the sweep drops it, and
    sweeping again changes nothing."""
    s, metric, customer, topic = store(redis), unique("met"), unique("cus"), unique("topic")
    first, second = events(metric, customer, 2)
    then = NOW - 3 * HOUR
    await s.apply([at(first, topic, 0, 40), at(second, topic, 1, 7)], then)
    committed = Committed({(topic, 0): 41, (topic, 1): 7})  # partition 1's record at 7 not committed yet
    await s.sweep_hot_marks(committed, NOW)
    assert await hot_slice_listed(redis, then)
    replay = await s.apply([at(second, topic, 1, 7)], NOW)
    assert (replay.recounted, replay.duplicates) == ([at(second, topic, 1, 7)], [])
    committed.offsets[(topic, 1)] = 8
    await s.sweep_hot_marks(committed, then + HOUR)  # not an hour past its end yet
    assert await hot_slice_listed(redis, then)
    await s.sweep_hot_marks(committed, NOW)
    assert not await hot_slice_listed(redis, then)
    await s.sweep_hot_marks(committed, NOW)
    assert not await hot_slice_listed(redis, then)
    assert await total(s, metric, customer) == (2, Decimal("3.0"))


async def test_a_key_found_cold_after_its_hot_slice_is_gone_is_a_duplicate(redis: Redis) -> None:
    """Once the processors committed past the counted record, only its cold mark remains: any record of
    the key (no replay of the counted one can come any more) is a duplicate, never counted again."""
    s, metric, customer, topic = store(redis), unique("met"), unique("cus"), unique("topic")
    [first] = events(metric, customer, 1)
    then = NOW - 5 * HOUR
    await s.apply([at(first, topic, 2, 5)], then)
    await s.sweep_hot_marks(Committed({(topic, 2): 6}), NOW)
    assert not await hot_slice_listed(redis, then)
    later = await s.apply([at(first, topic, 2, 9)], NOW)
    assert (later.counted, later.recounted, len(later.duplicates)) == ([], [], 1)
    assert await total(s, metric, customer) == (1, Decimal("1.5"))


async def test_a_sweep_killed_half_way_is_finished_by_the_next(redis: Redis) -> None:
    """A sweep killed after dropping some of a slice's buckets leaves the slice listed: the next sweep
    drops the rest and unlists it, and counting meanwhile is unaffected."""
    s, metric, customer, topic = store(redis), unique("met"), unique("cus"), unique("topic")
    batch = [at(event, topic, 0, offset) for offset, event in enumerate(events(metric, customer, 50))]
    then = NOW - 7 * HOUR
    await s.apply(batch, then)
    name = f"{int(then.timestamp()) // HOT_WIDTH_S * HOT_WIDTH_S}:{HOT_WIDTH_S}:9"
    buckets = [str(k) for k in await redis.keys(f"{HOT_MARKS_PREFIX}:{Mode.TEST.value}:{name}:*")]
    assert len(buckets) > 2
    await redis.unlink(*buckets[: len(buckets) // 2])  # what the killed sweep had done
    again = await s.apply(batch, NOW)
    assert (again.counted, len(again.recounted) + len(again.duplicates)) == ([], 50)
    await s.sweep_hot_marks(Committed({(topic, 0): 50}), NOW)
    assert not await hot_slice_listed(redis, then)
    assert await total(s, metric, customer) == (50, Decimal("75.0"))


async def test_changing_the_bucket_bits_hides_no_mark(redis: Redis) -> None:
    """Each slice names its own bit count: keys counted with 16 bits are duplicates to a store of 24, and
    the other way round, and the gateway's lookup finds both."""
    metric, customer = unique("met"), unique("cus")
    narrow, wide = store(redis, 16), store(redis, 24)
    before, after = events(metric, customer, 2)
    assert len((await narrow.apply([before], NOW)).counted) == 1
    assert len((await wide.apply([after], NOW)).counted) == 1
    assert len((await wide.apply([before], NOW)).duplicates) == 1
    assert len((await narrow.apply([after], NOW)).duplicates) == 1
    assert await store(redis, 12).known_keys(Mode.TEST, [before.idempotency_key, after.idempotency_key]) == {
        before.idempotency_key, after.idempotency_key}


async def test_a_lookup_tells_apart_keys_sharing_a_packed_bucket(redis: Redis) -> None:
    """With 8 bits 300 keys share 256 buckets, and a field's bytes may appear across two neighbours: only a
    10-byte-aligned match is a mark."""
    s, metric, customer = store(redis, 8), unique("met"), unique("cus")
    await s.apply(events(metric, customer, 300), NOW)
    fresh = [unique("k") for _ in range(300)]
    assert await s.known_keys(Mode.TEST, fresh) == set()
    cold = MarkLayout(COLD_MARKS_PREFIX, WIDTH_S, 8, packed=True)
    marked = digest(unique("k"))
    # A bucket whose bytes hold the field only across a boundary: not a mark.
    name, _ = cold.slice_of(int(NOW.timestamp()))
    bucket = cold.bucket_of(Mode.TEST, marked, int(NOW.timestamp()))
    await redis.set(bucket, b"\x00" * 5 + marked[2:] + b"\x00" * 5, ex=60)
    await redis.hset(cold.registry(Mode.TEST), name, int(NOW.timestamp()) + WIDTH_S)
    await learn_slices(redis, [cold], [0])
    script, keys, args = lookup_args([cold], [(Mode.TEST, marked)])
    assert await redis.eval(script, len(keys), *keys, *args) == [None]
