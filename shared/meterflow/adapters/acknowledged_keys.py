"""The gateway's memory of the event keys the broker has acknowledged (docs/api.md, "Ingest": a retry after a 202 is
reported as `duplicates`).

A mark is written only after the broker acknowledged the event (acks=all), never before: a mark for an
event that is not durable would answer a client's retry "duplicate" and lose the event. They only shape the
answer and spare the broker a resend; the processor stays the judge of what is counted (its own marks,
usage_store.py), so a lost mark costs nothing but a duplicate publish the processor drops.

They are needed only until the processor settles the key: from then on its cold mark answers (the gateway
reads both, `duplicate_precheck.py`), or, for a key it dead-lettered, the cold digest it writes here
(`remember_dead_lettered`; dead letters are rare). So the gateway's marks live in the hot tier only:
hourly slices of small hashes with empty values (`dedupe_marks.py`), each expiring an hour after its end
(1 to 2 hours after the mark, 14.5 B a key). With the processors more than an hour behind, a retry of a
key acknowledged that long ago and not yet settled is published again and answered `ingested`; the
processor drops it as the duplicate it is. One script call per batch (per slot group on a cluster, where
a key's group is its digest's: `redis_keys.py`). Marks written before the hot tier (slices W + 2·skew
wide, under the same prefix) are read until they expire.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterflow.adapters.dedupe_marks import HOT_SLICE_S, MarkLayout, digest, hot_bits, with_known_slices, write_args
from meterflow.adapters.redis_client import RedisClient, key_space
from meterflow.adapters.redis_keys import ACKNOWLEDGED_PREFIX, DEAD_LETTERED_PREFIX
from meterflow.clock import Clock
from meterflow.domain.modes import Mode

# Dead-lettered keys are few: 256 packed buckets hold them at any realistic rate of dead letters.
_DEAD_LETTERED_BITS = 8


class AcknowledgedKeys:
    def __init__(self, redis: RedisClient, ttl_s: int, clock_skew: timedelta = timedelta(seconds=300),
                 bucket_bits: int = 16) -> None:
        """`ttl_s`: W + skew, how long a dead-lettered key is answered `duplicates`; `bucket_bits`: the
        processor's cold mark bits (the hot slices take `hot_bits` of them)."""
        self._redis, self._ttl_s = redis, ttl_s
        self._space = key_space(redis)
        self._marks = MarkLayout(ACKNOWLEDGED_PREFIX, HOT_SLICE_S, hot_bits(bucket_bits), self._space)
        self._dead_lettered = MarkLayout(DEAD_LETTERED_PREFIX, ttl_s + int(clock_skew.total_seconds()),
                                         _DEAD_LETTERED_BITS, self._space, packed=True)

    @property
    def layouts(self) -> list[MarkLayout]:
        """Where the keys are (the gateway looks them up together with the processor's)."""
        return [self._marks, self._dead_lettered]

    async def mark(self, mode: Mode, digests: Sequence[bytes], now: datetime) -> None:
        """One script call for the whole batch (never a round trip, nor a command, per event); `digests`
        are `dedupe_marks.digest` of the keys."""
        await self._write(self._marks, mode, digests, now, int(now.timestamp()))

    async def remember_dead_lettered(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime) -> None:
        """Keys the processor dead-lettered: answered `duplicates` for W + skew, as a counted key is."""
        await self._write(self._dead_lettered, mode, [digest(key) for key in idempotency_keys], now,
                          int(now.timestamp()) + self._ttl_s)

    async def _write(self, layout: MarkLayout, mode: Mode, digests: Sequence[bytes], now: datetime,
                     expiry_s: int) -> None:
        if not digests:
            return
        now_s = int(now.timestamp())
        by_group: dict[int, list[tuple[Mode, bytes, bytes]]] = defaultdict(list)
        for d in digests:
            by_group[self._space.group_of_digest(d)].append((mode, d, b""))

        async def write() -> None:
            pipe = self._redis.pipeline(transaction=False)
            for group, marks in by_group.items():
                script, keys, args = write_args([layout], marks, now_s, expiry_s, group=group)
                pipe.eval(script, len(keys), *keys, *args)
            await pipe.execute()
        await with_known_slices(self._redis, [layout], by_group, write)


@dataclass(frozen=True)
class DeadLetteredKeys:
    """The processor's side of the acknowledged keys: the keys of the events it dead-lettered."""

    keys: AcknowledgedKeys
    clock: Clock

    async def dead_lettered(self, mode: Mode, idempotency_keys: Sequence[str]) -> None:
        await self.keys.remember_dead_lettered(mode, idempotency_keys, self.clock.now())
