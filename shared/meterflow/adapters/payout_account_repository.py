"""SQL for payout accounts: read, write and encode. Deletes are soft. A default account is written in one
transaction with the unsetting of the customer's other default in its currency; the partial unique index
(migration 0015) refuses a second default that a concurrent write would make."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from meterflow.adapters.customer_repository import customer_id_of
from meterflow.adapters.postgres import Connection, Pool
from meterflow.domain.errors import Conflict
from meterflow.domain.modes import Mode
from meterflow.domain.payout_accounts import PayoutAccount, PayoutMethod

_LIVE = "deleted_at IS NULL"


def _account(row: asyncpg.Record) -> PayoutAccount:
    return PayoutAccount(row["id"], Mode(row["mode"]), row["customer_id"], row["account_name"],
                         PayoutMethod(row["payout_method"]), row["currency"], row["is_default"], row["metadata"],
                         row["created_at"], row["updated_at"], row["bank_name"], row["bank_code"],
                         row["account_number"], row["mobile_money_number"])


class PayoutAccountRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def customer_id_of(self, mode: Mode, reference: str) -> str | None:
        return await customer_id_of(self._pool, mode, reference)

    async def save(self, a: PayoutAccount, *, new: bool) -> PayoutAccount:
        async with self._pool.acquire() as connection, connection.transaction():
            if a.is_default:
                await connection.execute(
                    f"UPDATE payout_accounts SET is_default = false, updated_at = $4 WHERE customer_id = $1 AND "
                    f"currency = $2 AND id <> $3 AND is_default AND {_LIVE}", a.customer_id, a.currency, a.id,
                    a.updated_at)
            try:
                row = await (self._insert(connection, a) if new else self._update(connection, a))
            except asyncpg.UniqueViolationError as exc:
                raise Conflict("Another default payout account of this customer and currency was just written; "
                               "try again", "is_default") from exc
        if row is None:
            raise Conflict("The payout account was deleted while it was being updated", "account_id")
        return _account(row)

    @staticmethod
    async def _insert(connection: Connection, a: PayoutAccount) -> asyncpg.Record | None:
        """The first account of a customer in a currency is its default, whatever was asked."""
        return await connection.fetchrow(
            "INSERT INTO payout_accounts (id, mode, customer_id, account_name, payout_method, currency, is_default, "
            "metadata, bank_name, bank_code, account_number, mobile_money_number, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7 OR NOT EXISTS (SELECT 1 FROM payout_accounts WHERE customer_id = $3 "
            f"AND currency = $6 AND is_default AND {_LIVE}), $8, $9, $10, $11, $12, $13, $13) RETURNING *",
            a.id, a.mode.value, a.customer_id, a.account_name, a.payout_method.value, a.currency, a.is_default,
            a.metadata, a.bank_name, a.bank_code, a.account_number, a.mobile_money_number, a.created_at)

    @staticmethod
    async def _update(connection: Connection, a: PayoutAccount) -> asyncpg.Record | None:
        """Never the bank code or mobile number: those are the destination itself."""
        return await connection.fetchrow(
            "UPDATE payout_accounts SET account_name = $3, payout_method = $4, currency = $5, is_default = $6, "
            f"metadata = $7, bank_name = $8, account_number = $9, updated_at = $10 WHERE id = $1 AND mode = $2 "
            f"AND {_LIVE} RETURNING *", a.id, a.mode.value, a.account_name, a.payout_method.value, a.currency,
            a.is_default, a.metadata, a.bank_name, a.account_number, a.updated_at)

    async def account(self, mode: Mode, customer_id: str, account_id: str) -> PayoutAccount | None:
        row = await self._pool.fetchrow(
            f"SELECT * FROM payout_accounts WHERE mode = $1 AND customer_id = $2 AND id = $3 AND {_LIVE}",
            mode.value, customer_id, account_id)
        return _account(row) if row else None

    async def accounts(self, mode: Mode, customer_id: str) -> list[PayoutAccount]:
        rows = await self._pool.fetch(
            f"SELECT * FROM payout_accounts WHERE mode = $1 AND customer_id = $2 AND {_LIVE} "
            "ORDER BY created_at, id", mode.value, customer_id)
        return [_account(r) for r in rows]

    async def delete(self, mode: Mode, customer_id: str, account_id: str, at: datetime) -> bool:
        return await self._pool.fetchval(
            f"UPDATE payout_accounts SET deleted_at = $4, is_default = false, updated_at = $4 WHERE mode = $1 AND "
            f"customer_id = $2 AND id = $3 AND {_LIVE} RETURNING true", mode.value, customer_id, account_id,
            at) is not None
