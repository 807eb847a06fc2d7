"""SQL for portal tokens: read, write and encode. Tokens are looked up by their SHA-256 (unique), never by
the token itself, which is not stored."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from meterflow.adapters.customer_repository import customer_id_of
from meterflow.adapters.postgres import Pool, fetch_filtered_page
from meterflow.domain.modes import Mode
from meterflow.domain.portal_tokens import PortalToken


def _token(row: asyncpg.Record) -> PortalToken:
    return PortalToken(row["id"], Mode(row["mode"]), row["customer_id"], row["token_hash"], row["label"],
                       row["expires_at"], row["revoked_at"], row["created_at"], row["updated_at"])


class PortalTokenRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def customer_id_of(self, mode: Mode, reference: str) -> str | None:
        return await customer_id_of(self._pool, mode, reference)

    async def add(self, token: PortalToken) -> None:
        await self._pool.execute(
            "INSERT INTO portal_tokens (id, mode, customer_id, token_hash, label, expires_at, revoked_at, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", token.id, token.mode.value,
            token.customer_id, token.token_hash, token.label, token.expires_at, token.revoked_at, token.created_at,
            token.updated_at)

    async def tokens(self, mode: Mode, customer_id: str | None, limit: int,
                     starting_after: str | None) -> tuple[list[PortalToken], bool]:
        rows, more = await fetch_filtered_page(self._pool, "portal_tokens", mode, limit, starting_after,
                                               {"customer_id": customer_id})
        return [_token(r) for r in rows], more

    async def revoke(self, mode: Mode, token_id: str, at: datetime) -> PortalToken | None:
        """The token, revoked at `at` unless it was already (then its first revocation stands)."""
        row = await self._pool.fetchrow(
            "UPDATE portal_tokens SET revoked_at = COALESCE(revoked_at, $3), updated_at = "
            "CASE WHEN revoked_at IS NULL THEN $3 ELSE updated_at END WHERE mode = $1 AND id = $2 RETURNING *",
            mode.value, token_id, at)
        return _token(row) if row else None

    async def by_hash(self, token_hash: str) -> PortalToken | None:
        row = await self._pool.fetchrow("SELECT * FROM portal_tokens WHERE token_hash = $1", token_hash)
        return _token(row) if row else None
