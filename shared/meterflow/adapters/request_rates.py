"""Requests per API key per second, counted in Redis so that every gateway process (and machine)
shares one budget per key: one runaway client cannot take the gateway from the others.

A fixed one-second window (`INCR` of `mf:rl:{key}:{second}`, expiring after two): simple, one
pipelined round trip per request, and at most twice the limit across a window edge. Limiting is a
protection, not a dependency: when Redis does not answer within a few milliseconds the request is
admitted, so a Redis outage never turns into refused requests here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from redis.exceptions import RedisError

from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.redis_keys import KeySpace

log = logging.getLogger(__name__)
_ANSWER_WITHIN_S = 0.1


class RequestRates:
    def __init__(self, redis: RedisClient, limit_per_s: int) -> None:
        self._redis, self.limit_per_s = redis, limit_per_s

    async def admit(self, key_id: str, now: datetime) -> bool:
        """Count this request of `key_id` (a stable id of the key, never the key itself); True when it is
        within the limit, or when there is no limit (0)."""
        if not self.limit_per_s:
            return True
        name = KeySpace.request_rate(key_id, int(now.timestamp()))
        try:
            async with asyncio.timeout(_ANSWER_WITHIN_S):
                pipe = self._redis.pipeline(transaction=False)
                pipe.incr(name)
                pipe.expire(name, 2)
                count, _ = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("request rate not counted (admitted): %s", exc)
            return True
        return int(count) <= self.limit_per_s
