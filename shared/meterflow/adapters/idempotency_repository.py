"""SQL for `idempotency_keys` (migration 0004): claim a key, read it, store the answer, release it.

`claim` is an `INSERT … ON CONFLICT DO NOTHING`: of two concurrent first requests exactly one inserts, and
only that one executes. Taking over an expired or stale record is a conditional UPDATE on the fingerprint
and time read, so two retries taking it over race on the row, and one wins.
"""

from __future__ import annotations

from datetime import datetime

from meterflow.adapters.postgres import Pool
from meterflow.domain.idempotency import StoredRequest
from meterflow.domain.modes import Mode


class IdempotencyRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def claim(self, mode: Mode, key: str, fingerprint: str, now: datetime) -> bool:
        return await self._pool.fetchval(
            "INSERT INTO idempotency_keys (mode, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (mode, key) DO NOTHING RETURNING true", mode.value, key, fingerprint, now) is not None

    async def stored(self, mode: Mode, key: str) -> StoredRequest | None:
        row = await self._pool.fetchrow(
            "SELECT fingerprint, created_at, status, body FROM idempotency_keys WHERE mode = $1 AND key = $2",
            mode.value, key)
        return StoredRequest(row["fingerprint"], row["created_at"], row["status"], row["body"]) if row else None

    async def take_over(self, mode: Mode, key: str, seen: StoredRequest, fingerprint: str, now: datetime) -> bool:
        return await self._pool.fetchval(
            "UPDATE idempotency_keys SET fingerprint = $3, created_at = $4, status = NULL, body = NULL "
            "WHERE mode = $1 AND key = $2 AND created_at = $5 AND fingerprint = $6 RETURNING true",
            mode.value, key, fingerprint, now, seen.created_at, seen.fingerprint) is not None

    async def store(self, mode: Mode, key: str, status: int, body: bytes) -> None:
        await self._pool.execute("UPDATE idempotency_keys SET status = $3, body = $4 WHERE mode = $1 AND key = $2",
                                 mode.value, key, status, body)

    async def release(self, mode: Mode, key: str) -> None:
        await self._pool.execute("DELETE FROM idempotency_keys WHERE mode = $1 AND key = $2", mode.value, key)

    async def purge(self, older_than: datetime) -> int:
        done: str = await self._pool.execute("DELETE FROM idempotency_keys WHERE created_at < $1", older_than)
        return int(done.split()[-1])
