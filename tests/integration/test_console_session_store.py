"""Console sessions in Redis: kept whole under the hash of their id with the session's lifetime as expiry,
forgotten at once, and the id itself never stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from meterflow.adapters.console_session_store import RedisSessionStore
from meterflow.domain.console_sessions import ConsoleSession, new_secret, session_key
from meterflow.domain.modes import Mode

pytestmark = pytest.mark.redis


async def test_a_session_is_kept_with_its_expiry_and_forgotten_at_once(redis: Redis) -> None:
    store, session_id = RedisSessionStore(redis), new_secret()
    kept = ConsoleSession(Mode.LIVE, "ab" * 32, new_secret(), datetime.now(UTC).replace(microsecond=0)
                          + timedelta(hours=8))
    await store.keep(session_key(session_id), kept, timedelta(hours=8))
    assert await store.find(session_key(session_id)) == kept
    assert await store.find(session_key(new_secret())) is None
    [stored] = [k async for k in redis.scan_iter(match=f"*{session_key(session_id)}*")]
    assert 8 * 3600 - 60 < await redis.ttl(stored) <= 8 * 3600
    assert [k async for k in redis.scan_iter(match=f"*{session_id}*")] == []  # only the hash is a key
    await store.forget(session_key(session_id))
    assert await store.find(session_key(session_id)) is None
