"""SQL for webhook endpoints: read, write and encode. Deletes are soft (deliveries refer to the endpoint);
a deleted endpoint's pending deliveries are marked failed in the same statement, so that nothing waits
for an endpoint that will never come back."""

from __future__ import annotations

from datetime import datetime

from meterflow.adapters.postgres import Executor, fetch_page
from meterflow.adapters.webhook_event_repository import endpoint_of
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import WebhookEndpoint

_LIVE = "deleted_at IS NULL"


class WebhookEndpointRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def add_endpoint(self, e: WebhookEndpoint) -> None:
        await self._db.execute(
            "INSERT INTO webhook_endpoints (id, mode, url, events, description, status, secret, created_at, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", e.id, e.mode.value, e.url, list(e.events),
            e.description, e.status.value, e.secret, e.created_at, e.updated_at)

    async def endpoint(self, mode: Mode, endpoint_id: str) -> WebhookEndpoint | None:
        row = await self._db.fetchrow(f"SELECT * FROM webhook_endpoints WHERE mode = $1 AND id = $2 AND {_LIVE}",
                                      mode.value, endpoint_id)
        return endpoint_of(row) if row else None

    async def endpoints(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[WebhookEndpoint],
                                                                                         bool]:
        rows, more = await fetch_page(self._db, "webhook_endpoints", mode, limit, starting_after, _LIVE)
        return [endpoint_of(r) for r in rows], more

    async def update_endpoint(self, e: WebhookEndpoint) -> None:
        await self._db.execute(
            "UPDATE webhook_endpoints SET url = $2, events = $3, description = $4, status = $5, updated_at = $6 "
            f"WHERE id = $1 AND {_LIVE}", e.id, e.url, list(e.events), e.description, e.status.value, e.updated_at)

    async def delete_endpoint(self, mode: Mode, endpoint_id: str, at: datetime) -> bool:
        deleted = await self._db.fetchval(
            "WITH gone AS (UPDATE webhook_endpoints SET deleted_at = $3, updated_at = $3, status = 'disabled' "
            f"WHERE mode = $1 AND id = $2 AND {_LIVE} RETURNING id), "
            "failed AS (UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = $3, "
            "last_error = coalesce(last_error, 'endpoint deleted') WHERE endpoint_id IN (SELECT id FROM gone) "
            "AND status = 'pending') SELECT count(*) FROM gone", mode.value, endpoint_id, at)
        return bool(deleted)
