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
from meterflow.adapters.dedupe_marks import MarkLayout, digest, marked_keys
from meterflow.adapters.redis_client import RedisClient
from meterflow.domain.modes import Mode

log = logging.getLogger(__name__)


class RedisDuplicatePrecheck:
    def __init__(self, redis: RedisClient, counted: Sequence[MarkLayout], acknowledged: AcknowledgedKeys,
                 timeout_s: float = 1.0) -> None:
        self._redis, self._counted, self._acknowledged, self._timeout_s = redis, list(counted), acknowledged, timeout_s

    async def already_known(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        # A counted key is claimed in its digest's slot group, and an acknowledged or dead-lettered one
        # remembered there too: on a cluster each key is asked in that one group.
        try:
            return await asyncio.wait_for(
                marked_keys(self._redis, [*self._counted, *self._acknowledged.layouts], mode, idempotency_keys),
                self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("duplicate pre-check skipped: Redis unavailable")
            return set()

    async def remember(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime) -> None:
        try:
            await asyncio.wait_for(self._acknowledged.mark(mode, [digest(key) for key in idempotency_keys], now),
                                   self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("acknowledged keys not remembered: Redis unavailable")
