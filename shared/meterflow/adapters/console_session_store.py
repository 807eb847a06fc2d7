"""Console sessions in Redis, one JSON value per session under its id's hash, expiring with the session itself:
every gateway worker sees every session, and a sign-out or expiry takes effect everywhere at once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from meterflow.domain.console_sessions import ConsoleSession
from meterflow.domain.modes import Mode

from .redis_client import RedisClient
from .redis_keys import KeySpace


class RedisSessionStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def keep(self, key: str, session: ConsoleSession, ttl: timedelta) -> None:
        kept = {"mode": session.mode.value, "key_hash": session.key_hash, "csrf_token": session.csrf_token,
                "expires_at": session.expires_at.isoformat()}
        await self._redis.set(KeySpace.console_session(key), json.dumps(kept), ex=max(1, int(ttl.total_seconds())))

    async def find(self, key: str) -> ConsoleSession | None:
        kept = await self._redis.get(KeySpace.console_session(key))
        if kept is None:
            return None
        fields = json.loads(kept)
        return ConsoleSession(Mode(fields["mode"]), fields["key_hash"], fields["csrf_token"],
                              datetime.fromisoformat(fields["expires_at"]))

    async def forget(self, key: str) -> None:
        await self._redis.delete(KeySpace.console_session(key))
