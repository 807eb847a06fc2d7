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

from redis.asyncio import Redis
from redis.exceptions import RedisError

from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.dedupe_marks import MarkLayout, any_marked_args, digest
from meterflow.domain.modes import Mode

log = logging.getLogger(__name__)


class RedisDuplicatePrecheck:
    def __init__(self, redis: Redis, counted: MarkLayout, acknowledged: AcknowledgedKeys,
                 timeout_s: float = 1.0) -> None:
        self._redis, self._counted, self._acknowledged, self._timeout_s = redis, counted, acknowledged, timeout_s

    async def already_known(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        if not idempotency_keys:
            return set()
        script, registries, args = any_marked_args([self._counted, self._acknowledged.layout],
                                                   ((mode, digest(key)) for key in idempotency_keys), legacy=True)
        try:
            found = await asyncio.wait_for(self._redis.eval(script, len(registries), *registries, *args),
                                           self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("duplicate pre-check skipped: Redis unavailable")
            return set()
        return {key for key, hit in zip(idempotency_keys, found, strict=True) if hit}

    async def remember(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime) -> None:
        try:
            await asyncio.wait_for(self._acknowledged.mark(mode, [digest(key) for key in idempotency_keys], now),
                                   self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("acknowledged keys not remembered: Redis unavailable")
