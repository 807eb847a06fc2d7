"""SQL for invoices and their lines: read, write and encode, nothing else.

What a write means (insert, overwrite a draft, already invoiced) and which status changes are allowed are
decided in `domain/invoices.py`; the use cases drive this repository inside their unit of work. The
partial unique index `one_live_invoice_per_period` and the `finalized_invoices_are_frozen` trigger
(migration 0001) are the final guards: `insert` is `ON CONFLICT DO NOTHING` and says which rows it wrote.
Every write is one batched round trip per statement, whether it carries one invoice or five hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

import asyncpg

from meterflow.adapters.postgres import Executor, fetch_filtered_page
from meterflow.domain.invoices import Invoice, InvoiceStatus, LineItem, PaymentStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period


class InvoiceFilters(TypedDict, total=False):
    customer_id: str | None
    subscription_id: str | None
    status: str | None


_INSERT = """
    INSERT INTO invoices (id, mode, customer_id, subscription_id, status, currency, period_start, period_end,
                          subtotal, total, created_at, finalized_at, vat_rate, vat_amount, updated_at)
    SELECT i.*, i.created_at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::timestamptz[], $8::timestamptz[], $9::numeric[], $10::numeric[], $11::timestamptz[],
        $12::timestamptz[], $13::numeric[], $14::numeric[]) AS i(id, mode, customer_id, subscription_id, status,
                                 currency, period_start, period_end, subtotal, total, created_at, finalized_at,
                                 vat_rate, vat_amount)
    ON CONFLICT (subscription_id, period_start) WHERE status <> 'void' DO NOTHING
    RETURNING id
"""


def _invoice(row: asyncpg.Record, lines: Sequence[asyncpg.Record]) -> Invoice:
    return Invoice(
        row["id"], Mode(row["mode"]), row["customer_id"], row["subscription_id"], InvoiceStatus(row["status"]),
        row["currency"], Period(row["period_start"], row["period_end"]),
        tuple(LineItem(r["metric_id"], r["price_id"], r["description"], r["quantity"], r["unit_price"],
                       r["amount"]) for r in lines),
        row["subtotal"], row["total"], row["created_at"], row["finalized_at"], row["voided_at"], row["vat_rate"],
        row["vat_amount"], row["paid_at"], row["provider_invoice_id"], PaymentStatus(row["payment_status"]),
        row["amount_paid"],
    )


class InvoiceRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def _with_lines(self, rows: Sequence[asyncpg.Record]) -> list[Invoice]:
        """Invoices with their lines: one query for the lines of all of them."""
        lines = await self._db.fetch("SELECT * FROM invoice_lines WHERE invoice_id = ANY($1::text[]) "
                                     "ORDER BY invoice_id, position", [r["id"] for r in rows])
        by_invoice: dict[str, list[asyncpg.Record]] = {r["id"]: [] for r in rows}
        for line in lines:
            by_invoice[line["invoice_id"]].append(line)
        return [_invoice(r, by_invoice[r["id"]]) for r in rows]

    async def invoice(self, mode: Mode, invoice_id: str, *, lock: bool = False) -> Invoice | None:
        sql = "SELECT * FROM invoices WHERE mode = $1 AND id = $2" + (" FOR UPDATE" if lock else "")
        row = await self._db.fetchrow(sql, mode.value, invoice_id)
        return (await self._with_lines([row]))[0] if row else None

    async def invoices(self, mode: Mode, limit: int, starting_after: str | None,
                       filters: InvoiceFilters | None = None) -> tuple[list[Invoice], bool]:
        """A page, narrowed by each filter given (customer_id, subscription_id, status)."""
        rows, more = await fetch_filtered_page(self._db, "invoices", mode, limit, starting_after, filters or {})
        return await self._with_lines(rows), more

    async def of_customer(self, mode: Mode, customer_id: str, limit: int) -> list[Invoice]:
        """The customer's latest invoices, newest first."""
        found, _ = await self.invoices(mode, limit, None, {"customer_id": customer_id})
        return found

    async def live_invoices(self, keys: Sequence[tuple[str, datetime]], *,
                            lock: bool = False) -> dict[tuple[str, datetime], Invoice]:
        """The non-void invoice of each (subscription, period start) that has one."""
        rows = await self._db.fetch(
            "SELECT i.* FROM invoices i JOIN unnest($1::text[], $2::timestamptz[]) AS k(sub, start) "
            "ON i.subscription_id = k.sub AND i.period_start = k.start WHERE i.status <> 'void'"
            + (" FOR UPDATE OF i" if lock else ""), [k[0] for k in keys], [k[1] for k in keys])
        return {i.period_key: i for i in await self._with_lines(rows)}

    async def insert(self, invoices: Sequence[Invoice]) -> set[str]:
        if not invoices:
            return set()
        columns = zip(*((i.id, i.mode.value, i.customer_id, i.subscription_id, i.status.value, i.currency,
                         i.period.start, i.period.end, i.subtotal, i.total, i.created_at, i.finalized_at,
                         i.vat_rate, i.vat_amount)
                        for i in invoices), strict=True)
        inserted = {r["id"] for r in await self._db.fetch(_INSERT, *map(list, columns))}
        await self._insert_lines([i for i in invoices if i.id in inserted])
        return inserted

    async def replace_drafts(self, invoices: Sequence[Invoice], at: datetime) -> None:
        # `status = 'draft'` keeps this from ever touching an invoice finalized meanwhile (the trigger would
        # refuse it anyway); the caller holds the row lock, so in practice every row matches.
        await self._db.executemany(
            "UPDATE invoices SET status = $2, subtotal = $3, total = $4, updated_at = $5, finalized_at = $6, "
            "vat_rate = $7, vat_amount = $8 WHERE id = $1 AND status = 'draft'",
            [(i.id, i.status.value, i.subtotal, i.total, at, i.finalized_at, i.vat_rate, i.vat_amount)
             for i in invoices])
        await self._db.execute("DELETE FROM invoice_lines WHERE invoice_id = ANY($1::text[])",
                               [i.id for i in invoices])
        await self._insert_lines(invoices)

    async def _insert_lines(self, invoices: Sequence[Invoice]) -> None:
        await self._db.executemany(
            "INSERT INTO invoice_lines (invoice_id, position, metric_id, price_id, description, quantity, "
            "unit_price, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [(i.id, n, li.metric_id, li.price_id, li.description, li.quantity, li.unit_price, li.amount)
             for i in invoices for n, li in enumerate(i.lines)])

    async def save_status(self, invoice: Invoice, at: datetime | None = None) -> None:
        """Its status and payment state, as changed at `at` (default: when its status last changed)."""
        changed_at = at or invoice.voided_at or invoice.paid_at or invoice.finalized_at
        await self._db.execute(
            "UPDATE invoices SET status = $2, finalized_at = $3, voided_at = $4, updated_at = $5, paid_at = $6, "
            "provider_invoice_id = $7, payment_status = $8, amount_paid = $9 WHERE id = $1", invoice.id,
            invoice.status.value, invoice.finalized_at, invoice.voided_at, changed_at, invoice.paid_at,
            invoice.provider_invoice_id, invoice.payment_status.value, invoice.amount_paid)
