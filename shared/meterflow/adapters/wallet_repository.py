"""SQL for wallets and their ledger (docs/wallets.md): read, write and encode. Runs on a unit of work's
connection, so a movement's lock, read and writes are one transaction; the table's checks and unique
indexes (migration 0015) are the final guards against overspending and applying a key twice."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from meterflow.adapters.customer_repository import customer_id_of
from meterflow.adapters.postgres import Executor, fetch_filtered_page
from meterflow.domain.errors import Conflict
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import AccountType, Direction, EntryType, LedgerEntry, Wallet

_ENTRY_COLUMNS = ("id, mode, transaction_id, wallet_id, account_type, account_id, direction, amount, currency, "
                  "balance_before, balance_after, description, entry_type, reference_type, reference_id, "
                  "idempotency_key, created_at")


def _wallet(row: asyncpg.Record) -> Wallet:
    return Wallet(row["id"], Mode(row["mode"]), row["customer_id"], row["currency"], row["balance"],
                  row["reserved_balance"], row["overdraft_limit"], row["created_at"], row["updated_at"])


def _entry(row: asyncpg.Record) -> LedgerEntry:
    return LedgerEntry(row["id"], Mode(row["mode"]), row["transaction_id"], row["wallet_id"],
                       AccountType(row["account_type"]), row["account_id"], Direction(row["direction"]),
                       row["amount"], row["currency"], row["balance_before"], row["balance_after"],
                       row["description"], EntryType(row["entry_type"]), row["reference_type"],
                       row["reference_id"], row["idempotency_key"], row["created_at"])


class WalletRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def customer_id_of(self, mode: Mode, reference: str) -> str | None:
        return await customer_id_of(self._db, mode, reference)

    async def add_wallet(self, wallet: Wallet) -> Wallet:
        await self._db.execute(
            "INSERT INTO wallets (id, mode, customer_id, currency, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (mode, customer_id, currency) DO NOTHING",
            wallet.id, wallet.mode.value, wallet.customer_id, wallet.currency, wallet.created_at)
        found = await self.wallet_of(wallet.mode, wallet.customer_id, wallet.currency)
        assert found is not None, "a wallet inserted or already there"
        return found

    async def wallet(self, mode: Mode, wallet_id: str, *, lock: bool = False) -> Wallet | None:
        row = await self._db.fetchrow("SELECT * FROM wallets WHERE mode = $1 AND id = $2" + _lock(lock),
                                      mode.value, wallet_id)
        return _wallet(row) if row else None

    async def wallet_of(self, mode: Mode, customer_id: str, currency: str, *, lock: bool = False) -> Wallet | None:
        row = await self._db.fetchrow(
            "SELECT * FROM wallets WHERE mode = $1 AND customer_id = $2 AND currency = $3" + _lock(lock),
            mode.value, customer_id, currency)
        return _wallet(row) if row else None

    async def wallets(self, mode: Mode, customer_id: str | None, limit: int,
                      starting_after: str | None) -> tuple[list[Wallet], bool]:
        rows, more = await fetch_filtered_page(self._db, "wallets", mode, limit, starting_after,
                                               {"customer_id": customer_id})
        return [_wallet(r) for r in rows], more

    async def allow_overdraft(self, wallet: Wallet) -> None:
        await self._db.execute("UPDATE wallets SET overdraft_limit = $2, updated_at = $3 WHERE id = $1",
                               wallet.id, wallet.overdraft_limit, wallet.updated_at)

    async def paying_wallets(self, invoice_ids: Sequence[str]) -> dict[str, Wallet]:
        rows = await self._db.fetch(
            "SELECT i.id AS invoice_id, w.* FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id "
            "JOIN plans p ON p.id = s.plan_id JOIN wallets w ON w.mode = i.mode AND w.customer_id = i.customer_id "
            "AND w.currency = i.currency WHERE i.id = ANY($1::text[]) AND i.status = 'finalized' AND i.total > 0 "
            "AND p.plan_type = 'collection' ORDER BY w.id FOR NO KEY UPDATE OF w", list(invoice_ids))
        return {r["invoice_id"]: _wallet(r) for r in rows}

    async def transaction_by_key(self, wallet_id: str, idempotency_key: str) -> list[LedgerEntry]:
        rows = await self._db.fetch(
            f"SELECT {_ENTRY_COLUMNS} FROM ledger_entries WHERE transaction_id = (SELECT transaction_id FROM "
            "ledger_entries WHERE wallet_id = $1 AND idempotency_key = $2 AND account_type = 'customer_wallet') "
            "ORDER BY account_type = 'organisation'", wallet_id, idempotency_key)
        return [_entry(r) for r in rows]

    async def record(self, wallet: Wallet, entries: Sequence[LedgerEntry]) -> None:
        try:
            await self._db.execute("UPDATE wallets SET balance = $2, updated_at = $3 WHERE id = $1",
                                   wallet.id, wallet.balance, wallet.updated_at)
            await self._db.executemany(
                f"INSERT INTO ledger_entries ({_ENTRY_COLUMNS}) VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                [(e.id, e.mode.value, e.transaction_id, e.wallet_id, e.account_type.value, e.account_id,
                  e.direction.value, e.amount, e.currency, e.balance_before, e.balance_after, e.description,
                  e.entry_type.value, e.reference_type, e.reference_id, e.idempotency_key, e.created_at)
                 for e in entries])
        except asyncpg.CheckViolationError as exc:
            raise Conflict("Insufficient wallet balance", "amount") from exc
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("This idempotency_key was just applied by another request; send it again to read "
                           "that transaction", "idempotency_key") from exc

    async def entries(self, mode: Mode, wallet_id: str, limit: int, offset: int) -> tuple[list[LedgerEntry], int]:
        rows = await self._db.fetch(
            f"SELECT {_ENTRY_COLUMNS}, count(*) OVER () AS total FROM ledger_entries WHERE mode = $1 AND "
            "wallet_id = $2 AND account_type = 'customer_wallet' ORDER BY position DESC LIMIT $3 OFFSET $4",
            mode.value, wallet_id, limit, offset)
        total = rows[0]["total"] if rows else await self._db.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE wallet_id = $1 AND account_type = 'customer_wallet'",
            wallet_id)
        return [_entry(r) for r in rows], total


def _lock(lock: bool) -> str:
    return " FOR NO KEY UPDATE" if lock else ""
