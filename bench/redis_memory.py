"""Figure 6: Redis memory per remembered idempotency key (the dedupe marks, docs/scaling.md).

A load process marks N fresh keys as the processor does (UsageStore.apply of CountableEvents with no
contributions, each mark holding its record's origin as the processor writes it, at offsets in the
millions, in the processor's batch size, so only dedupe marks are written), then remembers the same keys
as the gateway's acknowledged keys, and reads `INFO memory` used_memory at each step. Keys are UUID4
strings, the most common idempotency key clients send.

A key costs three marks, with different lives: a **cold** mark (packed digest, kept W + 2·skew, 1.5
slices on average), a **hot** mark with the record's origin (hourly slices, dropped by the processor's
sweep once its group committed past them) and the gateway's **acknowledged** key (hourly, expiring on
its own). So after marking, the bench sweeps the hot slices (as committed), drops the acknowledged keys,
then the cold marks, reading memory after each: every tier's cost per key is the memory it gave back.
Measured so, a server's one-off growth on its first big scripts (~0.3 MB on a fresh Valkey, kept after
the keys go) stays out of the figures; read from before the marks, it made the cold mark look 1.5 B
larger at 200,000 keys on a fresh server than on a used one. Both bucket counts are set for ~300 keys
a bucket at N keys (the layout's sizing point: `sized_bits`), unless the caller crowds them.

The origin a hot mark holds is most of its cost, and it depends on how the record reached Kafka, so the
same N keys are measured with a record's position (a direct Kafka producer's record, packed in 16
bytes: the headline figure) and with a spool delivery id (every record the gateway forwards, kept as
text).

The keys go to an empty logical database of their own: Valkey's key table grows by doubling, so
adding N keys to a database already holding some (the processor figure leaves 150,000) would charge
the N keys with a resize of someone else's table, or with none, depending on where it stood. From
empty, the N keys pay for exactly the table they need, and the figure repeats run after run.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError

from bench.loadgen import in_load_process
from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.dedupe_marks import HOT_SLICE_S, digest
from meterflow.adapters.redis_client import RedisClient, connect_redis
from meterflow.adapters.redis_keys import ACKNOWLEDGED_PREFIX, COLD_MARKS_PREFIX
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.counting import CountableEvent
from meterflow.domain.event_record import Position, origin_token
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from testkit.workload import EVENT_NAME, unique_key


@dataclass(frozen=True)
class KeyMemory:
    """Bytes per key of each tier, and of the marks as the count writes them (cold + hot)."""

    counted: float
    cold: float
    hot: float
    acknowledged: float


Origin = Callable[[int, datetime], str | None]


def position_origin(i: int, now: datetime) -> str | None:
    """A direct producer's record: its partition, an offset in the millions and its time."""
    return origin_token(Position("bench", i % 4, 1_000_000 + i), now)


def delivery_origin(i: int, now: datetime) -> str | None:
    """A record the gateway's spool forwarded: `<spool id>.<sequence>`, a sequence in the millions."""
    return f"0a1b2c3d.{1_000_000 + i}"


ORIGINS: dict[str, Origin] = {"position": position_origin, "delivery": delivery_origin}


async def empty_database(url: str, candidates: range = range(15, 0, -1)) -> str:
    """The URL of the first empty logical database (counting down from 15), else `url` itself."""
    for db in candidates:
        candidate = urlunsplit(urlsplit(url)._replace(path=f"/{db}"))
        client = connect_redis(candidate)
        try:
            if await client.dbsize() == 0:
                return candidate
        except RedisError:
            return url  # a server without numbered databases (a cluster): measure where we are
        finally:
            await client.aclose()
    return url


async def settled_memory(redis: RedisClient, timeout_s: float = 5.0) -> int:
    """used_memory once it holds still for 300 ms: clients of the previous measurement closing and
    lazy frees of its data would otherwise land in the difference."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = -1
    while True:
        used: int = (await redis.info("memory"))["used_memory"]
        if used == last or loop.time() > deadline:
            return used
        last = used
        await asyncio.sleep(0.3)


def sized_bits(n: int) -> int:
    """The bucket bits that put ~300 of `n` keys in a bucket (at least 8, the cold layout's least)."""
    return max(8, round(math.log2(n / 300)))


async def _everything_committed(partitions: Collection[tuple[str, int]]) -> dict[tuple[str, int], int]:
    return dict.fromkeys(partitions, 1 << 62)


async def _count(store: UsageStore, mode: Mode, keys: Sequence[str], settings: Settings, origin: Origin) -> None:
    """The keys counted as the processor counts them, in its batch size, each read at its own position."""
    now = datetime.now(UTC)
    step = settings.processor_batch_max
    for first in range(0, len(keys), step):
        await store.apply([CountableEvent(mode, key, "cus_bench", EVENT_NAME, now, (), origin(i, now),
                                          position=Position("bench", i % 4, 1_000_000 + i))
                           for i, key in enumerate(keys[first:first + step], start=first)], now)


async def _drop(redis: RedisClient, pattern: str) -> None:
    async for name in redis.scan_iter(match=pattern, count=10_000):
        await redis.unlink(name)


async def _mark(settings: Settings, n: int, origin: Origin, hot_bits: int | None) -> KeyMemory:
    url = await empty_database(settings.redis_dsn)
    redis = connect_redis(url)
    bits = sized_bits(n)
    hot = bits if hot_bits is None else hot_bits
    store = UsageStore(redis, dedupe_window=timedelta(seconds=settings.dedupe_window_s),
                       clock_skew=timedelta(seconds=settings.clock_skew_s),
                       retention=timedelta(seconds=settings.rollup_retention_s), mark_bucket_bits=bits,
                       hot_bucket_bits=hot)
    # Its hourly slices take `hot_bits` of the bits it is given (7 fewer): `hot` bits.
    acknowledged = AcknowledgedKeys(redis, settings.dedupe_window_s + settings.clock_skew_s,
                                    timedelta(seconds=settings.clock_skew_s), hot + 7)
    try:
        keys = [unique_key() for _ in range(n)]
        await _count(store, Mode.TEST, keys, settings, origin)
        step = settings.processor_batch_max
        for first in range(0, n, step):
            await acknowledged.mark(Mode.TEST, [digest(key) for key in keys[first:first + step]], datetime.now(UTC))
        marked = await settled_memory(redis)
        await store.sweep_hot_marks(_everything_committed, datetime.now(UTC) + timedelta(hours=3))
        swept = await settled_memory(redis)
        await _drop(redis, f"{ACKNOWLEDGED_PREFIX}:*")
        cold = await settled_memory(redis)
        await _drop(redis, f"{COLD_MARKS_PREFIX}:{Mode.TEST.value}:*")
        empty = await settled_memory(redis)
        if url != settings.redis_dsn:
            await redis.flushdb()  # it was empty before us: only our marks go
    finally:
        await redis.aclose()
    cold_bytes, hot_bytes = (cold - empty) / n, (marked - swept) / n
    return KeyMemory(cold_bytes + hot_bytes, cold_bytes, hot_bytes, (swept - cold) / n)


def load(settings: Settings, n: int, origin: str, hot_bits: int | None) -> KeyMemory:
    return asyncio.run(_mark(settings, n, ORIGINS[origin], hot_bits))


async def measure(settings: Settings, n: int, origin: str = "position", hot_bits: int | None = None) -> KeyMemory:
    """`hot_bits`: the hot tiers' bucket bits (default: ~300 keys a bucket, as the cold tier's)."""
    return await in_load_process(load, settings, n, origin, hot_bits)


def mb_per_event_per_s(found: KeyMemory, settings: Settings) -> float:
    """Redis in steady state per event/s sustained: each tier's bytes a key times its average life (1.5
    slice widths: a slice's marks go at once, one width after its end at the earliest)."""
    cold_life = 1.5 * (settings.dedupe_window_s + 2 * settings.clock_skew_s)
    hot_life = 1.5 * HOT_SLICE_S
    return (found.cold * cold_life + (found.hot + found.acknowledged) * hot_life) / 1e6
