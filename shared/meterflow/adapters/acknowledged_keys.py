"""The gateway's memory of the event keys the broker has acknowledged (api.md: a retry after a 202 is
reported as `duplicates`).

A mark is written only after the broker acknowledged the event (acks=all), never before: a mark for an
event that is not durable would answer a client's retry "duplicate" and lose the event. Marks are scoped
(mode, key) and expire with the dedupe window plus the clock-skew margin, past which no event with that
key can be accepted any more. They only shape the answer and spare the broker a resend; the processor
stays the judge of what is counted (its own marks, usage_store.py), so a lost mark costs nothing but a
duplicate publish the processor drops.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from meterflow.domain.modes import Mode


def acknowledged_key(mode: Mode, idempotency_key: str) -> str:
    return f"mf:acked:{mode.value}:{idempotency_key}"


class AcknowledgedKeys:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis, self._ttl_s = redis, ttl_s

    async def known(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        if not idempotency_keys:
            return set()
        found = await self._redis.mget([acknowledged_key(mode, key) for key in idempotency_keys])
        return {key for key, hit in zip(idempotency_keys, found, strict=True) if hit is not None}

    async def mark(self, mode: Mode, idempotency_keys: Sequence[str]) -> None:
        """One pipeline for the whole batch (never a round trip per event)."""
        if not idempotency_keys:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in idempotency_keys:
                pipe.set(acknowledged_key(mode, key), "1", ex=self._ttl_s)
            await pipe.execute()
