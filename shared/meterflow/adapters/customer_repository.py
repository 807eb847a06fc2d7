"""SQL for the writes to customers that a unit of work makes (with the webhook event each reports);
`CatalogRepository` inherits them, so that callers reading across the catalog keep one object."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from meterflow.adapters.postgres import Executor
from meterflow.domain.catalog import Customer
from meterflow.domain.errors import Conflict
from meterflow.domain.modes import Mode


async def customer_id_of(db: Executor, mode: Mode, reference: str) -> str | None:
    """The id of the live customer of `mode` whose id, or else `external_id`, is `reference` (Monigo's
    wallet and payout calls accept either)."""
    found: str | None = await db.fetchval(
        "SELECT id FROM customers WHERE mode = $1 AND (id = $2 OR external_id = $2) AND deleted_at IS NULL "
        "ORDER BY id = $2 DESC LIMIT 1", mode.value, reference)
    return found


class CustomerRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def add_customer(self, customer: Customer) -> None:
        try:
            await self._db.execute(
                "INSERT INTO customers (id, mode, external_id, name, email, metadata, created_at, phone) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", customer.id, customer.mode.value, customer.external_id,
                customer.name, customer.email, customer.metadata, customer.created_at, customer.phone)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"a customer with external_id {customer.external_id!r} exists", "external_id") from exc

    async def delete_customer(self, mode: Mode, customer_id: str, at: datetime) -> bool:
        """Soft delete (migration 0004): its invoices, which read by id, stay readable."""
        return await self._db.fetchval("UPDATE customers SET deleted_at = $3, updated_at = $3 "
                                       "WHERE mode = $1 AND id = $2 AND deleted_at IS NULL RETURNING true",
                                       mode.value, customer_id, at) is not None
