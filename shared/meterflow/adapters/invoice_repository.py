"""SQL for invoices and their lines.

The partial unique index `one_live_invoice_per_period` and the `finalized_invoices_are_frozen` trigger
(migration 0001) are the final guards; this module works with them, never around them.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from meterflow.adapters.postgres import Connection, Pool, fetch_page
from meterflow.domain.invoices import Invoice, InvoiceStatus, LineItem
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period


class InvoiceLocked(Exception):
    """The invoice is finalized or void: its amounts can no longer change."""

    def __init__(self, invoice: Invoice) -> None:
        super().__init__(f"invoice {invoice.id} is {invoice.status}")
        self.invoice = invoice


def _invoice(row: asyncpg.Record, lines: list[asyncpg.Record]) -> Invoice:
    return Invoice(
        row["id"], Mode(row["mode"]), row["customer_id"], row["subscription_id"], InvoiceStatus(row["status"]),
        row["currency"], Period(row["period_start"], row["period_end"]),
        tuple(LineItem(r["metric_id"], r["price_id"], r["description"], r["quantity"], r["unit_price"],
                       r["amount"]) for r in lines),
        row["subtotal"], row["total"], row["created_at"], row["finalized_at"],
    )


class InvoiceRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def save_draft(self, draft: Invoice) -> Invoice:
        """Insert the period's draft, or refresh the existing draft in place (same id).

        A finalized invoice for the period is never touched: InvoiceLocked carries it instead.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            existing = await connection.fetchrow(
                "SELECT * FROM invoices WHERE subscription_id = $1 AND period_start = $2 AND status <> 'void' "
                "FOR UPDATE", draft.subscription_id, draft.period.start)
            if existing is None:
                inserted = await connection.fetchval(
                    "INSERT INTO invoices (id, mode, customer_id, subscription_id, status, currency, period_start, "
                    "period_end, subtotal, total, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $10) "
                    "ON CONFLICT (subscription_id, period_start) WHERE status <> 'void' DO NOTHING RETURNING id",
                    draft.id, draft.mode.value, draft.customer_id, draft.subscription_id, draft.currency,
                    draft.period.start, draft.period.end, draft.subtotal, draft.total, draft.created_at)
                if inserted is None:  # a concurrent writer won the unique index: refresh theirs instead
                    raise asyncpg.SerializationError("concurrent draft insert")
                invoice_id = draft.id
            elif existing["status"] == InvoiceStatus.DRAFT:
                invoice_id = existing["id"]
                await connection.execute(
                    "UPDATE invoices SET subtotal = $2, total = $3, updated_at = $4 WHERE id = $1",
                    invoice_id, draft.subtotal, draft.total, draft.created_at)
                await connection.execute("DELETE FROM invoice_lines WHERE invoice_id = $1", invoice_id)
            else:
                raise InvoiceLocked(_invoice(existing, await self._lines(connection, existing["id"])))
            await connection.executemany(
                "INSERT INTO invoice_lines (invoice_id, position, metric_id, price_id, description, quantity, "
                "unit_price, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [(invoice_id, i, line.metric_id, line.price_id, line.description, line.quantity, line.unit_price,
                  line.amount) for i, line in enumerate(draft.lines)])
        stored = await self.invoice(draft.mode, invoice_id)
        assert stored is not None
        return stored

    async def _lines(self, connection: Connection | Pool, invoice_id: str) -> list[asyncpg.Record]:
        return list(await connection.fetch("SELECT * FROM invoice_lines WHERE invoice_id = $1 ORDER BY position",
                                           invoice_id))

    async def invoice(self, mode: Mode, invoice_id: str) -> Invoice | None:
        row = await self._pool.fetchrow("SELECT * FROM invoices WHERE mode = $1 AND id = $2", mode.value, invoice_id)
        return _invoice(row, await self._lines(self._pool, invoice_id)) if row else None

    async def invoices(self, mode: Mode, customer_id: str | None, limit: int,
                       starting_after: str | None) -> tuple[list[Invoice], bool]:
        where, args = ("customer_id = $2", (customer_id,)) if customer_id else ("", ())
        rows, more = await fetch_page(self._pool, "invoices", mode, limit, starting_after, where, args)
        return [_invoice(r, await self._lines(self._pool, r["id"])) for r in rows], more

    async def set_status(self, mode: Mode, invoice_id: str, status: InvoiceStatus, at: datetime) -> Invoice | None:
        """Finalize a draft, or void a draft/finalized invoice. Anything else raises InvoiceLocked."""
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow("SELECT * FROM invoices WHERE mode = $1 AND id = $2 FOR UPDATE",
                                            mode.value, invoice_id)
            if row is None:
                return None
            current = InvoiceStatus(row["status"])
            allowed = {InvoiceStatus.FINALIZED: {InvoiceStatus.DRAFT},
                       InvoiceStatus.VOID: {InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED}}[status]
            if current == status:
                return await self.invoice(mode, invoice_id)
            if current not in allowed:
                raise InvoiceLocked(_invoice(row, await self._lines(connection, invoice_id)))
            column = "finalized_at" if status is InvoiceStatus.FINALIZED else "voided_at"
            await connection.execute(
                f"UPDATE invoices SET status = $2, {column} = $3, updated_at = $3 WHERE id = $1",
                invoice_id, status.value, at)
        return await self.invoice(mode, invoice_id)
