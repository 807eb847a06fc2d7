"""SQL for the catalog: API keys, customers, metrics, plans with prices.

Subscriptions have their own repository (subscription_repository.py, where all their SQL is);
`CatalogRepository` inherits its methods so that callers reading across the catalog (the gateway, the
processor) keep one object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from meterflow.adapters.postgres import Pool, UniqueViolation, fetch_page
from meterflow.adapters.subscription_repository import SubscriptionRepository
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval
from meterflow.domain.rollups import Aggregation, MetricRule


def _customer(row: asyncpg.Record) -> Customer:
    return Customer(row["id"], Mode(row["mode"]), row["external_id"], row["name"], row["email"],
                    row["metadata"], row["created_at"])


def _metric(row: asyncpg.Record) -> Metric:
    return Metric(row["id"], Mode(row["mode"]), row["name"], row["event_name"], Aggregation(row["aggregation"]),
                  row["aggregation_property"], row["description"], row["created_at"])


class CatalogRepository(SubscriptionRepository):
    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self._pool = pool

    async def ping(self) -> object:
        return await self._pool.fetchval("SELECT 1")

    async def add_api_key(self, key_id: str, mode: Mode, key_hash: str) -> None:
        await self._pool.execute("INSERT INTO api_keys (id, mode, key_hash) VALUES ($1, $2, $3)",
                                 key_id, mode.value, key_hash)

    async def mode_of_key(self, key_hash: str) -> Mode | None:
        mode = await self._pool.fetchval("SELECT mode FROM api_keys WHERE key_hash = $1", key_hash)
        return Mode(mode) if mode else None

    async def add_customer(self, customer: Customer) -> None:
        try:
            await self._pool.execute(
                "INSERT INTO customers (id, mode, external_id, name, email, metadata, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)", customer.id, customer.mode.value, customer.external_id,
                customer.name, customer.email, customer.metadata, customer.created_at)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(f"a customer with external_id {customer.external_id!r} exists") from exc

    async def customer(self, mode: Mode, customer_id: str) -> Customer | None:
        row = await self._pool.fetchrow("SELECT * FROM customers WHERE mode = $1 AND id = $2",
                                        mode.value, customer_id)
        return _customer(row) if row else None

    async def customers(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Customer], bool]:
        rows, more = await fetch_page(self._pool, "customers", mode, limit, starting_after)
        return [_customer(r) for r in rows], more

    async def existing_customer_ids(self, mode: Mode, ids: Iterable[str]) -> set[str]:
        rows = await self._pool.fetch("SELECT id FROM customers WHERE mode = $1 AND id = ANY($2::text[])",
                                      mode.value, list(set(ids)))
        return {r["id"] for r in rows}

    async def add_metric(self, metric: Metric) -> None:
        await self._pool.execute(
            "INSERT INTO metrics (id, mode, name, event_name, aggregation, aggregation_property, description, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", metric.id, metric.mode.value, metric.name,
            metric.event_name, metric.aggregation.value, metric.aggregation_property, metric.description,
            metric.created_at)

    async def metric(self, mode: Mode, metric_id: str) -> Metric | None:
        row = await self._pool.fetchrow("SELECT * FROM metrics WHERE mode = $1 AND id = $2", mode.value, metric_id)
        return _metric(row) if row else None

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]:
        rows = await self._pool.fetch("SELECT * FROM metrics WHERE mode = $1 AND id = ANY($2::text[])",
                                      mode.value, list(set(ids)))
        return {r["id"]: _metric(r) for r in rows}

    async def metrics(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Metric], bool]:
        rows, more = await fetch_page(self._pool, "metrics", mode, limit, starting_after)
        return [_metric(r) for r in rows], more

    async def metric_rules(self, mode: Mode, event_names: Iterable[str]) -> list[MetricRule]:
        rows = await self._pool.fetch(
            "SELECT * FROM metrics WHERE mode = $1 AND event_name = ANY($2::text[])", mode.value,
            list(set(event_names)))
        return [_metric(r).rule for r in rows]

    async def add_plan(self, plan: Plan) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO plans (id, mode, name, description, currency, plan_type, billing_period, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", plan.id, plan.mode.value, plan.name, plan.description,
                plan.currency, plan.plan_type, plan.billing_period.value, plan.created_at)
            await connection.executemany(
                "INSERT INTO prices (id, plan_id, position, metric_id, definition) VALUES ($1, $2, $3, $4, $5)",
                [(p.id, plan.id, i, p.metric_id, p.definition) for i, p in enumerate(plan.prices)])

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]:
        rows = await self._pool.fetch("SELECT * FROM plans WHERE mode = $1 AND id = ANY($2::text[])",
                                      mode.value, list(set(ids)))
        return await self._with_prices(rows)

    async def plan(self, mode: Mode, plan_id: str) -> Plan | None:
        return (await self.plans_by_id(mode, [plan_id])).get(plan_id)

    async def plans(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Plan], bool]:
        rows, more = await fetch_page(self._pool, "plans", mode, limit, starting_after)
        by_id = await self._with_prices(rows)
        return [by_id[r["id"]] for r in rows], more

    async def _with_prices(self, rows: Sequence[asyncpg.Record]) -> dict[str, Plan]:
        prices = await self._pool.fetch("SELECT * FROM prices WHERE plan_id = ANY($1::text[]) ORDER BY position",
                                        [r["id"] for r in rows])
        by_plan: dict[str, list[PlanPrice]] = {r["id"]: [] for r in rows}
        for p in prices:
            by_plan[p["plan_id"]].append(PlanPrice(p["id"], p["metric_id"], p["definition"]))
        return {r["id"]: Plan(r["id"], Mode(r["mode"]), r["name"], r["description"], r["currency"],
                              r["plan_type"], BillingInterval(r["billing_period"]), tuple(by_plan[r["id"]]),
                              r["created_at"]) for r in rows}
