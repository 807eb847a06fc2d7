"""Two closers at once, and a closer killed mid-run then re-run: exactly one invoice per period."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, period_at
from meterflow.domain.rollups import Aggregation
from meterflow.settings import Settings
from tests.support import eventually, service_env, unique

DAYS_BEHIND = 3


async def due_subscriptions(pool: Pool, n: int) -> tuple[str, list[str]]:
    """n daily subscriptions started DAYS_BEHIND days ago, so DAYS_BEHIND periods each are due."""
    catalog, now, mode = CatalogRepository(pool), datetime.now(UTC), Mode.TEST
    metric = Metric(new_id(IdKind.METRIC), mode, "calls", unique("e"), Aggregation.COUNT, None, None, now)
    await catalog.add_metric(metric)
    plan = Plan(new_id(IdKind.PLAN), mode, "daily", None, "USD", "collection", BillingInterval.DAILY,
                (PlanPrice(new_id(IdKind.PRICE), metric.id, {"model": "flat", "unit_price": "1"}),), now)
    await catalog.add_plan(plan)
    customer = Customer(new_id(IdKind.CUSTOMER), mode, unique("ext"), "bulk", None, {}, now)
    await catalog.add_customer(customer)
    anchor = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS_BEHIND)
    first = period_at(anchor, BillingInterval.DAILY, 0)
    ids = [new_id(IdKind.SUBSCRIPTION) for _ in range(n)]
    await pool.executemany(
        "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
        "current_period_end) VALUES ($1, 'test', $2, $3, 'active', $4, $5, $6)",
        [(i, customer.id, plan.id, anchor, first.start, first.end) for i in ids])
    return customer.id, ids


async def invoice_counts(pool: Pool, customer_id: str) -> tuple[int, int]:
    """(non-void invoices, distinct (subscription, period) among them)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT (subscription_id, period_start)) AS periods FROM invoices "
        "WHERE customer_id = $1 AND status <> 'void'", customer_id)
    assert row is not None
    return row["n"], row["periods"]


def start_close(settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "services", "close-periods"], env=service_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def test_two_closers_at_once_write_each_invoice_once(settings: Settings, pool: Pool) -> None:
    customer, subscriptions = await due_subscriptions(pool, 1_500)
    closers = [start_close(settings) for _ in range(2)]
    outputs = await asyncio.gather(*(asyncio.to_thread(c.communicate, timeout=300) for c in closers))
    assert [c.returncode for c in closers] == [0, 0], outputs
    expected = len(subscriptions) * DAYS_BEHIND
    assert await invoice_counts(pool, customer) == (expected, expected)
    behind = await pool.fetchval("SELECT count(*) FROM subscriptions WHERE id = ANY($1::text[]) "
                                 "AND current_period_end <= now() - interval '1 hour'", subscriptions)
    assert behind == 0


async def test_closer_killed_mid_run_then_rerun_leaves_no_gap_and_no_twin(settings: Settings, pool: Pool) -> None:
    customer, subscriptions = await due_subscriptions(pool, 3_000)
    expected = len(subscriptions) * DAYS_BEHIND
    closer = start_close(settings)
    await eventually(lambda: invoice_counts(pool, customer), lambda c: c[0] > 0, 120, interval_s=0.02)
    closer.kill()
    closer.wait()
    partial = await invoice_counts(pool, customer)
    assert partial[0] == partial[1] and 0 < partial[0] < expected, partial

    rerun = start_close(settings)
    _, stderr = await asyncio.to_thread(rerun.communicate, timeout=300)
    assert rerun.returncode == 0, stderr
    assert await invoice_counts(pool, customer) == (expected, expected)
