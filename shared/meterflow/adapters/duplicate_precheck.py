"""Ingest's early duplicate answer, in Redis: one script looks a batch's keys up among the processor's
marks (counted) and the gateway's acknowledged keys (`acknowledged_keys.py`) in one round trip, and
acknowledged keys are remembered after the acknowledgement.

Best effort by design: the processor is the judge of what is counted (docs/exactly-once.md). With Redis
away or slow, the lookup finds nothing (everything is published and the processor drops the duplicates)
and the remembering is skipped (a retry is published again and dropped): never a failed batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from redis.exceptions import RedisError

from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.dedupe_marks import MarkLayout, digest, lookup_args, with_known_slices
from meterflow.adapters.redis_client import RedisClient, key_space
from meterflow.domain.looked_up_keys import LookedUpKeys
from meterflow.domain.modes import Mode

log = logging.getLogger(__name__)


class RedisDuplicatePrecheck:
    def __init__(self, redis: RedisClient, counted: Sequence[MarkLayout], acknowledged: AcknowledgedKeys,
                 timeout_s: float = 1.0) -> None:
        self._redis, self._counted, self._acknowledged, self._timeout_s = redis, list(counted), acknowledged, timeout_s
        self._space = key_space(redis)

    async def already_known(self, mode: Mode, idempotency_keys: Sequence[str]) -> LookedUpKeys:
        if not idempotency_keys:
            return LookedUpKeys(set())
        as_stored = {key: digest(key) for key in idempotency_keys}  # kept for `remember`
        # A counted key's mark is in its customer's slot group, an acknowledged one in its digest's: on a
        # cluster every group is asked for every key, one script a group, in one round trip.
        digests = [(mode, d) for d in as_stored.values()]
        layouts = [*self._counted, *self._acknowledged.layouts]

        async def look_up() -> list[list[str | None]]:
            pipe = self._redis.pipeline(transaction=False)
            for group in self._space.all_groups():
                script, names, args = lookup_args(layouts, digests, group)
                pipe.eval(script, len(names), *names, *args)
            replies: list[list[str | None]] = await pipe.execute()
            return replies
        try:
            replies = await asyncio.wait_for(
                with_known_slices(self._redis, layouts, self._space.all_groups(), look_up), self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("duplicate pre-check skipped: Redis unavailable")
            return LookedUpKeys(set(), as_stored)
        return LookedUpKeys({key for found in replies for key, mark in zip(idempotency_keys, found, strict=True)
                             if mark is not None}, as_stored)

    async def remember(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime,
                       looked_up: LookedUpKeys | None = None) -> None:
        as_stored = looked_up.as_stored if looked_up is not None else {}
        digests = [as_stored.get(key) or digest(key) for key in idempotency_keys]
        try:
            await asyncio.wait_for(self._acknowledged.mark(mode, digests, now), self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("acknowledged keys not remembered: Redis unavailable")
