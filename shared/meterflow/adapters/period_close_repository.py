"""The unit of work of a period close: lock due subscriptions, write their invoices, advance them.

One transaction per chunk. `FOR UPDATE SKIP LOCKED` lets two closers run at once on disjoint
subscriptions; a kill -9 rolls the chunk back whole (no invoice without its advanced subscription, and
the reverse); `ON CONFLICT DO NOTHING` on the one-invoice-per-period index makes any remaining race
harmless. A draft already open for the period is finalized in place, keeping its id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterflow.adapters.catalog_repository import _SUBSCRIPTION_SELECT, _subscription
from meterflow.adapters.postgres import Connection, Pool
from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.periods import next_period

CloseComputer = Callable[[Sequence[Subscription]], Awaitable[list[Invoice]]]


@dataclass
class ChunkResult:
    subscriptions: int = 0
    invoices_written: int = 0
    already_invoiced: int = 0


class PeriodCloseRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def close_chunk(
        self, as_of: datetime, grace: timedelta, limit: int, compute: CloseComputer,
        subscription_id: str | None = None, dry_run: bool = False,
    ) -> tuple[ChunkResult, list[Invoice]]:
        """Close the current period of up to `limit` due subscriptions (none due: a result of 0)."""
        async with self._pool.acquire() as connection:
            transaction = connection.transaction()
            await transaction.start()
            try:
                due = await self._lock_due(connection, as_of - grace, limit, subscription_id)
                invoices = await compute(due)
                result = ChunkResult(subscriptions=len(due))
                if not dry_run:
                    await self._write(connection, invoices, result)
                    await self._advance(connection, due)
            except BaseException:
                await transaction.rollback()
                raise
            if dry_run:
                await transaction.rollback()
            else:
                await transaction.commit()
        return result, invoices

    async def write_finalized(self, invoices: list[Invoice]) -> ChunkResult:
        """Write finalized invoices outside a close (re-invoicing a voided period)."""
        result = ChunkResult()
        async with self._pool.acquire() as connection, connection.transaction():
            await self._write(connection, invoices, result)
        return result

    async def _lock_due(self, connection: Connection, ended_by: datetime, limit: int,
                        subscription_id: str | None) -> list[Subscription]:
        rows = await connection.fetch(
            f"{_SUBSCRIPTION_SELECT} WHERE s.status = $1 AND s.current_period_end <= $2 "
            "AND ($3::text IS NULL OR s.id = $3) ORDER BY s.current_period_end, s.id LIMIT $4 "
            "FOR UPDATE OF s SKIP LOCKED", SubscriptionStatus.ACTIVE, ended_by, subscription_id, limit)
        return [_subscription(r) for r in rows]

    async def _write(self, connection: Connection, invoices: list[Invoice], result: ChunkResult) -> None:
        existing = await connection.fetch(
            "SELECT i.id, i.subscription_id, i.period_start, i.status FROM invoices i "
            "JOIN unnest($1::text[], $2::timestamptz[]) AS due(sub, start) "
            "ON i.subscription_id = due.sub AND i.period_start = due.start WHERE i.status <> 'void'",
            [i.subscription_id for i in invoices], [i.period.start for i in invoices])
        by_period = {(r["subscription_id"], r["period_start"]): r for r in existing}
        to_insert, drafts = [], []
        for invoice in invoices:
            found = by_period.get((invoice.subscription_id, invoice.period.start))
            if found is None:
                to_insert.append(invoice)
            elif found["status"] == InvoiceStatus.DRAFT:
                drafts.append((found["id"], invoice))
            else:
                result.already_invoiced += 1
        await connection.executemany(
            "INSERT INTO invoices (id, mode, customer_id, subscription_id, status, currency, period_start, "
            "period_end, subtotal, total, created_at, updated_at, finalized_at) "
            "VALUES ($1, $2, $3, $4, 'finalized', $5, $6, $7, $8, $9, $10, $10, $10) "
            "ON CONFLICT (subscription_id, period_start) WHERE status <> 'void' DO NOTHING",
            [(i.id, i.mode.value, i.customer_id, i.subscription_id, i.currency, i.period.start, i.period.end,
              i.subtotal, i.total, i.created_at) for i in to_insert])
        await connection.execute("DELETE FROM invoice_lines WHERE invoice_id = ANY($1::text[])",
                                 [draft_id for draft_id, _ in drafts])
        await connection.executemany(
            "UPDATE invoices SET status = 'finalized', subtotal = $2, total = $3, updated_at = $4, "
            "finalized_at = $4 WHERE id = $1 AND status = 'draft'",
            [(draft_id, i.subtotal, i.total, i.created_at) for draft_id, i in drafts])
        written = [*((i.id, i) for i in to_insert), *drafts]
        await connection.executemany(
            "INSERT INTO invoice_lines (invoice_id, position, metric_id, price_id, description, quantity, "
            "unit_price, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            [(invoice_id, n, li.metric_id, li.price_id, li.description, li.quantity, li.unit_price, li.amount)
             for invoice_id, invoice in written for n, li in enumerate(invoice.lines)])
        result.invoices_written += len(written)

    async def _advance(self, connection: Connection, due: list[Subscription]) -> None:
        """Move each subscription to its next period; a cancelled one stops after its last invoice."""
        rows = []
        for s in due:
            following = next_period(s.anchor, s.interval, s.current_period)
            status = SubscriptionStatus.CANCELED if s.cancel_at_period_end else SubscriptionStatus.ACTIVE
            rows.append((s.id, status, following.start, following.end))
        await connection.executemany(
            "UPDATE subscriptions SET status = $2, current_period_start = $3, current_period_end = $4 "
            "WHERE id = $1", rows)
