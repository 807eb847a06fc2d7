"""SQL for the webhook outbox: events and the deliveries they fan out to, written in the caller's
transaction (a unit of work's connection), each kind in one batched statement. `pg_notify` wakes the
delivery workers when the transaction commits (Postgres sends notifications only then, and never for a
rollback), so a change reaches its first attempt in milliseconds rather than at the next poll."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import asyncpg

from meterflow.adapters.postgres import Executor
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import EndpointStatus, NewDelivery, WebhookEndpoint, WebhookEvent

NOTIFY_CHANNEL = "meterflow_webhooks"


def endpoint_of(row: asyncpg.Record) -> WebhookEndpoint:
    return WebhookEndpoint(row["id"], Mode(row["mode"]), row["url"], tuple(row["events"]), row["description"],
                           EndpointStatus(row["status"]), row["secret"], row["created_at"], row["updated_at"])


class WebhookOutboxRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def enabled_endpoints(self, modes: Collection[Mode]) -> list[WebhookEndpoint]:
        rows = await self._db.fetch("SELECT * FROM webhook_endpoints WHERE mode = ANY($1::text[]) "
                                    "AND status = 'enabled' AND deleted_at IS NULL", [m.value for m in modes])
        return [endpoint_of(r) for r in rows]

    async def add(self, events: Sequence[WebhookEvent], deliveries: Sequence[NewDelivery]) -> None:
        if events:
            await self._db.execute(
                "INSERT INTO webhook_events (id, mode, type, created_at, payload) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::json[])",
                [e.id for e in events], [e.mode.value for e in events], [e.type.value for e in events],
                [e.created_at for e in events], [e.payload for e in events])
        if deliveries:
            await self._db.execute(
                "INSERT INTO webhook_deliveries (id, mode, endpoint_id, event_id, event_type, event_created_at, "
                "status, next_attempt_at, created_at, updated_at) "
                "SELECT d.id, d.mode, d.endpoint_id, d.event_id, d.event_type, d.at, 'pending', d.at, d.at, d.at "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) "
                "AS d(id, mode, endpoint_id, event_id, event_type, at)",
                [d.id for d in deliveries], [d.event.mode.value for d in deliveries],
                [d.endpoint_id for d in deliveries], [d.event.id for d in deliveries],
                [d.event.type.value for d in deliveries], [d.event.created_at for d in deliveries])
            await self._db.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)

    async def forget_before(self, cutoff: datetime, limit: int = 10_000) -> int:
        """Delete up to `limit` events created before `cutoff` whose deliveries are all done, with their
        deliveries and attempts, in one statement (the foreign keys are checked at its end); a pending
        delivery keeps its event, however old. Returns how many events went."""
        done: str = await self._db.execute("""
            WITH old AS (
                SELECT v.id FROM webhook_events v
                WHERE v.mode IN ('test', 'live') AND v.created_at < $1
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = v.id AND d.status = 'pending')
                ORDER BY v.created_at LIMIT $2),
            attempts AS (
                DELETE FROM webhook_attempts a USING webhook_deliveries d, old
                WHERE a.delivery_id = d.id AND d.event_id = old.id),
            deliveries AS (DELETE FROM webhook_deliveries d USING old WHERE d.event_id = old.id)
            DELETE FROM webhook_events v USING old WHERE v.id = old.id""", cutoff, limit)
        return int(done.split()[-1])
