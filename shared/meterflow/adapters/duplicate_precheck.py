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
from meterflow.domain.looked_up_keys import LookedUpKeys
from meterflow.domain.modes import Mode

log = logging.getLogger(__name__)


class RedisDuplicatePrecheck:
    def __init__(self, redis: RedisClient, counted: Sequence[MarkLayout], acknowledged: AcknowledgedKeys,
                 timeout_s: float = 1.0) -> None:
        self._redis, self._counted, self._acknowledged, self._timeout_s = redis, list(counted), acknowledged, timeout_s

    async def already_known(self, mode: Mode, idempotency_keys: Sequence[str]) -> LookedUpKeys:
        # A counted key is claimed in its digest's slot group, and an acknowledged or dead-lettered one
        # remembered there too: on a cluster each key is asked in that one group.
        as_stored = {key: digest(key) for key in idempotency_keys}  # kept for `remember`
        try:
            found = await asyncio.wait_for(
                marked_keys(self._redis, [*self._counted, *self._acknowledged.layouts], mode, as_stored),
                self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("duplicate pre-check skipped: Redis unavailable")
            return LookedUpKeys(set(), as_stored)
        return LookedUpKeys(found, as_stored)

    async def remember(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime,
                       looked_up: LookedUpKeys | None = None) -> None:
        as_stored = looked_up.as_stored if looked_up is not None else {}
        digests = [as_stored.get(key) or digest(key) for key in idempotency_keys]
        try:
            await asyncio.wait_for(self._acknowledged.mark(mode, digests, now), self._timeout_s)
        except (RedisError, TimeoutError):
            log.warning("acknowledged keys not remembered: Redis unavailable")
