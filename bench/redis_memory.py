"""Figure 6: Redis memory per remembered idempotency key (the processor's dedupe marks).

A load process marks N fresh keys as the processor does (UsageStore.apply of CountableEvents with no
contributions, each mark holding its record's origin as the processor writes it, at offsets in the
millions, in the processor's batch size, so only dedupe marks are written) and reads
`INFO memory` used_memory before and after; the figure is the difference over N. Keys are UUID4
strings, the most common idempotency key clients send.

The origin a mark holds is most of its cost, and it depends on how the record reached Kafka, so the
same N keys are measured three times: with a record's position (a direct Kafka producer's record,
packed in 16 bytes: the headline figure), with a spool delivery id (every record the gateway
forwards, kept as text), and with none (what a mark would cost without its origin: the size the
capacity model in docs/scaling.md starts from).

The keys go to an empty logical database of their own: Valkey's key table grows by doubling, so
adding N keys to a database already holding some (the processor figure leaves 150,000) would charge
the N keys with a resize of someone else's table, or with none, depending on where it stood. From
empty, the N keys pay for exactly the table they need, and the figure repeats run after run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError

from bench.loadgen import in_load_process
from bench.workload import EVENT_NAME, unique_key
from meterflow.adapters.redis_client import RedisClient, connect_redis
from meterflow.domain.counting import CountableEvent
from meterflow.domain.event_record import Position, origin_token
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import usage_store


@dataclass(frozen=True)
class KeyMemory:
    bytes_per_key: float
    keys_added: int
    used_memory_delta: int


Origin = Callable[[int, datetime], str | None]


def position_origin(i: int, now: datetime) -> str | None:
    """A direct producer's record: its partition, an offset in the millions and its time."""
    return origin_token(Position("bench", i % 4, 1_000_000 + i), now)


def delivery_origin(i: int, now: datetime) -> str | None:
    """A record the gateway's spool forwarded: `<spool id>.<sequence>`, a sequence in the millions."""
    return f"0a1b2c3d.{1_000_000 + i}"


def no_origin(i: int, now: datetime) -> str | None:
    return None


ORIGINS: dict[str, Origin] = {"position": position_origin, "delivery": delivery_origin, "none": no_origin}


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


async def _mark(settings: Settings, n: int, origin: Origin) -> KeyMemory:
    url = await empty_database(settings.redis_dsn)
    redis = connect_redis(url)
    store = usage_store(redis, settings)
    try:
        keys_before, memory_before = await redis.dbsize(), await settled_memory(redis)
        now = datetime.now(UTC)
        for start in range(0, n, settings.processor_batch_max):
            batch = [CountableEvent(Mode.TEST, unique_key(), "cus_bench", EVENT_NAME, now, (), origin(i, now))
                     for i in range(start, min(start + settings.processor_batch_max, n))]
            await store.apply(batch, now)
        keys_after, memory_after = await redis.dbsize(), await settled_memory(redis)
        if url != settings.redis_dsn:
            await redis.flushdb()  # it was empty before us: only our marks go
    finally:
        await redis.aclose()
    delta = memory_after - memory_before
    return KeyMemory(delta / n, keys_after - keys_before, delta)


def load(settings: Settings, n: int, origin: str) -> KeyMemory:
    return asyncio.run(_mark(settings, n, ORIGINS[origin]))


async def measure(settings: Settings, n: int, origin: str = "position") -> KeyMemory:
    return await in_load_process(load, settings, n, origin)
