"""SQL for late events (domain/late_events.py): the finalized periods of customers, and the late-event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from meterflow.adapters.postgres import Pool
from meterflow.domain.late_events import FinalizedPeriod, LateEvent
from meterflow.domain.modes import Mode
from meterflow.domain.start_allowance import billed_from


class LateEventRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def finalized_periods(self, mode: Mode, customer_ids: Sequence[str],
                                since: datetime) -> list[FinalizedPeriod]:
        """Each from where its invoice's usage starts: a first period reaches back by the start allowance."""
        rows = await self._pool.fetch(
            "SELECT i.customer_id, i.id, i.period_start, i.period_end, s.first_period_start, s.usage_from "
            "FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id "
            "WHERE i.status IN ('finalized', 'paid', 'uncollectible') "
            "AND i.mode = $1 AND i.customer_id = ANY($2::text[]) AND i.period_end > $3",
            mode.value, list(set(customer_ids)), since)
        return [FinalizedPeriod(r["customer_id"], r["id"], billed_from(r["period_start"], r["first_period_start"],
                                                                      r["usage_from"]), r["period_end"]) for r in rows]

    async def record(self, events: Sequence[LateEvent]) -> None:
        """Idempotent: a replayed batch records nothing new."""
        await self._pool.executemany(
            "INSERT INTO late_events (mode, idempotency_key, customer_id, event_name, event_timestamp, invoice_id) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            [(e.mode.value, e.idempotency_key, e.customer_id, e.event_name, e.event_timestamp, e.invoice_id)
             for e in events])

    async def listing(self, since: datetime | None, limit: int) -> list[LateEvent]:
        rows = await self._pool.fetch(
            "SELECT * FROM late_events WHERE ($1::timestamptz IS NULL OR detected_at >= $1) "
            "ORDER BY detected_at DESC LIMIT $2", since, limit)
        return [LateEvent(Mode(r["mode"]), r["idempotency_key"], r["customer_id"], r["event_name"],
                          r["event_timestamp"], r["invoice_id"], r["detected_at"]) for r in rows]
