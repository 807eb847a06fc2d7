"""Figure 5: wall time of `meterflow close-periods` finalizing 10,000 due subscriptions.

Each subscription has a customer of its own on a daily plan with two prices (count at a flat unit
price, sum in tiers) and exactly one period due; a share of the customers has usage in that period,
written through UsageStore.apply as the processor would. The command is timed as ops would run it
(process start-up included); its own report of the close time is kept beside it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.services import service_env
from bench.workload import Books, open_books, unique_key
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.domain.catalog import Plan, PlanPrice
from meterflow.domain.counting import Contribution, CountableEvent
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.periods import BillingInterval, align_to_hour, period_at
from meterflow.domain.rollups import Observation
from meterflow.settings import Settings
from services.wiring import usage_store

EVENTS_PER_CUSTOMER_WITH_USAGE = 5
APPLY_BATCH = 2_000


@dataclass(frozen=True)
class CloseTiming:
    seconds: float            # the command, start to exit
    reported_s: float | None  # what the command says the close itself took
    subscriptions: int
    invoices: int
    invoices_with_usage: int


async def _plan(pool: Pool, books: Books) -> Plan:
    plan = Plan(new_id(IdKind.PLAN), books.mode, "bench daily", None, "USD", "collection", BillingInterval.DAILY, (
        PlanPrice.parse(new_id(IdKind.PRICE), books.count_metric, {"model": "flat", "unit_price": "0.001"}),
        PlanPrice.parse(new_id(IdKind.PRICE), books.sum_metric, {"model": "tiered", "tiers": [
            {"up_to": "10", "unit_price": "1.00"}, {"up_to": None, "unit_price": "0.50"}]}),
    ), datetime.now(UTC))
    await CatalogRepository(pool).add_plan(plan)
    return plan


async def due_subscriptions(pool: Pool, books: Books, plan: Plan, anchor: datetime) -> list[str]:
    """One subscription per customer whose first daily period ended two hours ago (grace is one)."""
    first = period_at(anchor, BillingInterval.DAILY, 0)
    ids = [new_id(IdKind.SUBSCRIPTION) for _ in books.customers]
    await pool.executemany(
        "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
        "current_period_end) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7)",
        [(s, books.mode.value, c, plan.id, anchor, first.start, first.end)
         for s, c in zip(ids, books.customers, strict=True)])
    return ids


async def write_usage(settings: Settings, books: Books, customers: list[str], at: datetime) -> None:
    redis = connect_redis(settings.redis_dsn)
    store = usage_store(redis, settings)
    events = [CountableEvent(books.mode, unique_key(), c, "api_request", at + timedelta(minutes=i), (
        Contribution(books.count_metric, Observation()),
        Contribution(books.sum_metric, Observation(value=Decimal(f"{i}.5")))))
        for c in customers for i in range(EVENTS_PER_CUSTOMER_WITH_USAGE)]
    try:
        for start in range(0, len(events), APPLY_BATCH):
            await store.apply(events[start:start + APPLY_BATCH], datetime.now(UTC))
    finally:
        await redis.aclose()


def run_close(settings: Settings) -> tuple[float, float | None]:
    """Run the command; (wall seconds, the seconds it reports)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "services", "close-periods"], env=service_env(settings),
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"close-periods exited {done.returncode}: {done.stderr[-2000:]}")
    reported = re.search(r"in ([0-9.]+)s\s*$", done.stdout)
    return seconds, float(reported.group(1)) if reported else None


async def measure(settings: Settings, subscriptions: int, usage_share: float) -> CloseTiming:
    pool = await create_pool(settings.database_dsn)
    try:
        books = await open_books(pool, subscriptions)
        anchor = align_to_hour(datetime.now(UTC)) - timedelta(days=1, hours=2)
        ids = await due_subscriptions(pool, books, await _plan(pool, books), anchor)
        with_usage = books.customers[:int(subscriptions * usage_share)]
        await write_usage(settings, books, with_usage, anchor + timedelta(hours=3))
        seconds, reported = await asyncio.to_thread(run_close, settings)
        row = await pool.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE total > 0) AS paid FROM invoices "
            "WHERE subscription_id = ANY($1::text[]) AND status = 'finalized'", ids)
    finally:
        await pool.close()
    assert row is not None
    return CloseTiming(seconds, reported, subscriptions, row["n"], row["paid"])
