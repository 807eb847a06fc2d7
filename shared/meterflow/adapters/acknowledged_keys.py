"""The gateway's memory of the event keys the broker has acknowledged (docs/api.md, "Ingest": a retry after a 202 is
reported as `duplicates`).

A mark is written only after the broker acknowledged the event (acks=all), never before: a mark for an
event that is not durable would answer a client's retry "duplicate" and lose the event. Marks are scoped
(mode, key) and live at least the dedupe window plus the clock-skew margin, past which no event with that
key can be accepted any more. They only shape the answer and spare the broker a resend; the processor
stays the judge of what is counted (its own marks, usage_store.py), so a lost mark costs nothing but a
duplicate publish the processor drops.

They use the processor's compact layout (`dedupe_marks.py`: a field of a small hash per key, ~20 B
instead of ~110 for a string key named by the whole key) under their own prefix, with an empty value,
and one script call per batch (per slot group on a cluster, where a key's group is its digest's:
`redis_keys.py`). Marks of the previous layout (`mf:acked:{mode}:{key}`) are not read:
a retry of a batch acknowledged just before the upgrade and not yet counted is published again and
dropped by the processor (its marks of the previous layout are still read), answered `ingested`
instead of `duplicates` once; they expire on their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from meterflow.adapters.dedupe_marks import MarkLayout, any_marked_args, digest, with_known_slices
from meterflow.adapters.redis_client import RedisClient, key_space
from meterflow.adapters.redis_keys import ACKNOWLEDGED_PREFIX
from meterflow.domain.modes import Mode


class AcknowledgedKeys:
    def __init__(self, redis: RedisClient, ttl_s: int, clock_skew: timedelta = timedelta(seconds=300),
                 bucket_bits: int = 12) -> None:
        self._redis, self._ttl_s = redis, ttl_s
        self._space = key_space(redis)
        self._marks = MarkLayout(ACKNOWLEDGED_PREFIX, ttl_s + int(clock_skew.total_seconds()), bucket_bits,
                                 self._space)

    @property
    def layout(self) -> MarkLayout:
        """Where the marks are (the gateway looks them up together with the processor's, `any_marked_args`)."""
        return self._marks

    async def known(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        if not idempotency_keys:
            return set()
        by_group: dict[int, list[str]] = defaultdict(list)
        for key in idempotency_keys:
            by_group[self._space.group_of_digest(digest(key))].append(key)

        async def look_up() -> set[str]:
            pipe = self._redis.pipeline(transaction=False)
            for group, keys in by_group.items():
                script, names, args = any_marked_args([self._marks], ((mode, digest(key)) for key in keys),
                                                      legacy=False, group=group)
                pipe.eval(script, len(names), *names, *args)
            return {key for keys, found in zip(by_group.values(), await pipe.execute(), strict=True)
                    for key, hit in zip(keys, found, strict=True) if hit}
        return await with_known_slices(self._redis, [self._marks], by_group, look_up)

    async def mark(self, mode: Mode, digests: Sequence[bytes], now: datetime) -> None:
        """One script call for the whole batch (never a round trip, nor a command, per event); `digests`
        are `dedupe_marks.digest` of the keys."""
        if not digests:
            return
        now_s = int(now.timestamp())
        by_group: dict[int, list[tuple[Mode, bytes, bytes]]] = defaultdict(list)
        for d in digests:
            by_group[self._space.group_of_digest(d)].append((mode, d, b""))

        async def write() -> None:
            pipe = self._redis.pipeline(transaction=False)
            for group, marks in by_group.items():
                script, keys, args = self._marks.write_args(marks, now_s, now_s + self._ttl_s, check=False,
                                                            group=group)
                pipe.eval(script, len(keys), *keys, *args)
            await pipe.execute()
        await with_known_slices(self._redis, [self._marks], by_group, write)
