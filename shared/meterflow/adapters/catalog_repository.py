"""SQL for the catalog: API keys, customers, metrics, plans with prices.

Deletes are soft (`deleted_at`, migration 0004): a deleted row is read by no lookup here, so a deleted
customer answers 404 and its new events are refused at ingest and dead-lettered by the processor as
unknown; its invoices, which read by id, stay readable.

Subscriptions have their own repository (subscription_repository.py, where all their SQL is);
`CatalogRepository` inherits its methods so that callers reading across the catalog (the gateway, the
processor) keep one object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypedDict

import asyncpg

from meterflow.adapters.customer_repository import CustomerRepository
from meterflow.adapters.postgres import Connection, Pool, fetch_filtered_page, fetch_page
from meterflow.adapters.subscription_repository import SubscriptionRepository
from meterflow.domain.api_keys import ApiKey, KeyScope
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval
from meterflow.domain.rollups import Aggregation, MetricRule

_LIVE = "deleted_at IS NULL"


class CustomerFilters(TypedDict, total=False):
    external_id: str | None


def _customer(row: asyncpg.Record) -> Customer:
    return Customer(row["id"], Mode(row["mode"]), row["external_id"], row["name"], row["email"],
                    row["metadata"], row["created_at"], row["phone"], row["updated_at"])


def _metric(row: asyncpg.Record) -> Metric:
    return Metric(row["id"], Mode(row["mode"]), row["name"], row["event_name"], Aggregation(row["aggregation"]),
                  row["aggregation_property"], row["description"], row["created_at"], row["updated_at"])


async def _soft_delete(db: Pool, table: str, mode: Mode, object_id: str, at: datetime) -> bool:
    """`table` is one of ours, never from a request."""
    return await db.fetchval(f"UPDATE {table} SET deleted_at = $3, updated_at = $3 "
                             f"WHERE mode = $1 AND id = $2 AND {_LIVE} RETURNING true",
                             mode.value, object_id, at) is not None


class CatalogRepository(SubscriptionRepository, CustomerRepository):
    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self._pool = pool

    async def ping(self) -> object:
        return await self._pool.fetchval("SELECT 1")

    async def add_api_key(self, key_id: str, mode: Mode, key_hash: str, scope: KeyScope = KeyScope.FULL) -> None:
        await self._pool.execute("INSERT INTO api_keys (id, mode, key_hash, scope) VALUES ($1, $2, $3, $4)",
                                 key_id, mode.value, key_hash, scope.value)

    async def key_grant(self, key_hash: str) -> tuple[Mode, KeyScope] | None:
        """The mode and scope of a key not revoked."""
        row = await self._pool.fetchrow("SELECT mode, scope FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                                        key_hash)
        return (Mode(row["mode"]), KeyScope(row["scope"])) if row else None

    async def mode_of_key(self, key_hash: str) -> Mode | None:
        grant = await self.key_grant(key_hash)
        return grant[0] if grant else None

    async def api_keys(self) -> list[ApiKey]:
        rows = await self._pool.fetch("SELECT * FROM api_keys ORDER BY created_at, id")
        return [ApiKey(r["id"], Mode(r["mode"]), KeyScope(r["scope"]), r["created_at"], r["revoked_at"])
                for r in rows]

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        return await self._pool.fetchval("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL "
                                         "RETURNING true", key_id, at) is not None

    async def update_customer(self, c: Customer) -> None:
        await self._pool.execute(
            "UPDATE customers SET name = $2, email = $3, phone = $4, metadata = $5, updated_at = $6 WHERE id = $1",
            c.id, c.name, c.email, c.phone, c.metadata, c.updated_at)

    async def customer(self, mode: Mode, customer_id: str) -> Customer | None:
        row = await self._pool.fetchrow(f"SELECT * FROM customers WHERE mode = $1 AND id = $2 AND {_LIVE}",
                                        mode.value, customer_id)
        return _customer(row) if row else None

    async def customers(self, mode: Mode, limit: int, starting_after: str | None,
                        filters: CustomerFilters | None = None) -> tuple[list[Customer], bool]:
        """A page of the customers not deleted, narrowed by each filter given (`external_id`)."""
        rows, more = await fetch_filtered_page(self._pool, "customers", mode, limit, starting_after, filters or {},
                                               _LIVE)
        return [_customer(r) for r in rows], more

    async def search_customers(self, mode: Mode, text: str, limit: int) -> list[Customer]:
        """Newest first: those whose id or external id is `text`, or whose name or email holds it (any case);
        every customer when `text` is empty."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._pool.fetch(
            f"SELECT * FROM customers WHERE mode = $1 AND {_LIVE} AND ($2 = '' OR id = $2 OR external_id = $2 "
            "OR name ILIKE $3 OR email ILIKE $3) ORDER BY created_at DESC, id DESC LIMIT $4",
            mode.value, text, pattern, limit)
        return [_customer(r) for r in rows]

    async def existing_customer_ids(self, mode: Mode, ids: Iterable[str]) -> set[str]:
        rows = await self._pool.fetch(
            f"SELECT id FROM customers WHERE mode = $1 AND id = ANY($2::text[]) AND {_LIVE}",
            mode.value, list(set(ids)))
        return {r["id"] for r in rows}

    async def add_metric(self, metric: Metric) -> None:
        await self._pool.execute(
            "INSERT INTO metrics (id, mode, name, event_name, aggregation, aggregation_property, description, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", metric.id, metric.mode.value, metric.name,
            metric.event_name, metric.aggregation.value, metric.aggregation_property, metric.description,
            metric.created_at)

    async def update_metric(self, m: Metric) -> None:
        await self._pool.execute(
            "UPDATE metrics SET name = $2, event_name = $3, aggregation = $4, aggregation_property = $5, "
            "description = $6, updated_at = $7 WHERE id = $1", m.id, m.name, m.event_name, m.aggregation.value,
            m.aggregation_property, m.description, m.updated_at)

    async def metric_priced(self, metric_id: str) -> bool:
        """A price of a plan not deleted rates this metric."""
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM prices pr JOIN plans p ON p.id = pr.plan_id "
            "WHERE pr.metric_id = $1 AND p.deleted_at IS NULL)", metric_id))

    async def delete_metric(self, mode: Mode, metric_id: str, at: datetime) -> bool:
        return await _soft_delete(self._pool, "metrics", mode, metric_id, at)

    async def metric(self, mode: Mode, metric_id: str) -> Metric | None:
        row = await self._pool.fetchrow(f"SELECT * FROM metrics WHERE mode = $1 AND id = $2 AND {_LIVE}",
                                        mode.value, metric_id)
        return _metric(row) if row else None

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]:
        rows = await self._pool.fetch(f"SELECT * FROM metrics WHERE mode = $1 AND id = ANY($2::text[]) AND {_LIVE}",
                                      mode.value, list(set(ids)))
        return {r["id"]: _metric(r) for r in rows}

    async def metrics(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Metric], bool]:
        rows, more = await fetch_page(self._pool, "metrics", mode, limit, starting_after, _LIVE)
        return [_metric(r) for r in rows], more

    async def metric_rules(self, mode: Mode, event_names: Iterable[str]) -> list[MetricRule]:
        rows = await self._pool.fetch(
            f"SELECT * FROM metrics WHERE mode = $1 AND event_name = ANY($2::text[]) AND {_LIVE}", mode.value,
            list(set(event_names)))
        return [_metric(r).rule for r in rows]

    async def add_plan(self, plan: Plan) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO plans (id, mode, name, description, currency, plan_type, billing_period, created_at, "
                "trial_period_days, vat_rate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", plan.id,
                plan.mode.value, plan.name, plan.description, plan.currency, plan.plan_type,
                plan.billing_period.value, plan.created_at, plan.trial_period_days, plan.vat_rate)
            await _write_prices(connection, plan)

    async def update_plan(self, plan: Plan) -> None:
        """The plan's fields and its whole price list (positions as given: changed prices in place, new
        ones after them)."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "UPDATE plans SET name = $2, description = $3, currency = $4, plan_type = $5, billing_period = $6, "
                "trial_period_days = $7, vat_rate = $8, updated_at = $9 WHERE id = $1", plan.id, plan.name,
                plan.description, plan.currency, plan.plan_type, plan.billing_period.value,
                plan.trial_period_days, plan.vat_rate, plan.updated_at)
            await _write_prices(connection, plan)

    async def plan_subscribed(self, plan_id: str) -> bool:
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE plan_id = $1 AND status <> 'canceled')", plan_id))

    async def delete_plan(self, mode: Mode, plan_id: str, at: datetime) -> bool:
        return await _soft_delete(self._pool, "plans", mode, plan_id, at)

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]:
        rows = await self._pool.fetch(f"SELECT * FROM plans WHERE mode = $1 AND id = ANY($2::text[]) AND {_LIVE}",
                                      mode.value, list(set(ids)))
        return await self._with_prices(rows)

    async def plan(self, mode: Mode, plan_id: str) -> Plan | None:
        return (await self.plans_by_id(mode, [plan_id])).get(plan_id)

    async def plans(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Plan], bool]:
        rows, more = await fetch_page(self._pool, "plans", mode, limit, starting_after, _LIVE)
        by_id = await self._with_prices(rows)
        return [by_id[r["id"]] for r in rows], more

    async def _with_prices(self, rows: Sequence[asyncpg.Record]) -> dict[str, Plan]:
        prices = await self._pool.fetch("SELECT * FROM prices WHERE plan_id = ANY($1::text[]) ORDER BY position",
                                        [r["id"] for r in rows])
        by_plan: dict[str, list[PlanPrice]] = {r["id"]: [] for r in rows}
        for p in prices:
            by_plan[p["plan_id"]].append(PlanPrice.parse(p["id"], p["metric_id"], p["definition"]))
        return {r["id"]: Plan(r["id"], Mode(r["mode"]), r["name"], r["description"], r["currency"],
                              r["plan_type"], BillingInterval(r["billing_period"]), tuple(by_plan[r["id"]]),
                              r["created_at"], r["trial_period_days"], r["vat_rate"], r["updated_at"])
                for r in rows}


async def _write_prices(connection: Connection, plan: Plan) -> None:
    await connection.executemany(
        "INSERT INTO prices (id, plan_id, position, metric_id, definition) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, metric_id = EXCLUDED.metric_id, "
        "definition = EXCLUDED.definition",
        [(p.id, plan.id, i, p.metric_id, p.wire) for i, p in enumerate(plan.prices)])
