"""A closer killed (SIGKILL) while it pays invoices from a wallet, then run again: every invoice is paid
once, the wallet holds its credit less exactly the invoices' sum, and the ledger balances. The payment is
written in the finalize's own transaction, so a kill leaves each invoice with its payment or neither."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SystemClock
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, period_at
from meterflow.domain.rollups import Aggregation
from meterflow.domain.wallets import Direction
from meterflow.settings import Settings
from tests.support import eventually, service_env, unique

DAYS_BEHIND, SUBSCRIPTIONS = 3, 400
FEE = {"model": "overage", "included_units": 0, "unit_price": "0", "base_fee": "1.00"}  # 1.00 a period


async def customer_with_fees_due(pool: Pool) -> tuple[str, str]:
    """One customer with SUBSCRIPTIONS daily subscriptions of a 1.00 fee, DAYS_BEHIND periods each due,
    and a wallet of 2,000.00 in the plan's currency: (customer id, wallet id)."""
    catalog, now = CatalogRepository(pool), datetime.now(UTC)
    metric = Metric(new_id(IdKind.METRIC), Mode.TEST, "calls", unique("e"), Aggregation.COUNT, None, None, now)
    plan = Plan(new_id(IdKind.PLAN), Mode.TEST, "fee", None, "USD", "collection", BillingInterval.DAILY,
                (PlanPrice.parse(new_id(IdKind.PRICE), metric.id, FEE),), now)
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "prepaid", None, {}, now)
    await catalog.add_metric(metric)
    await catalog.add_plan(plan)
    await catalog.add_customer(customer)
    anchor = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS_BEHIND)
    first = period_at(anchor, BillingInterval.DAILY, 0)
    await pool.executemany(
        "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
        "current_period_end) VALUES ($1, 'test', $2, $3, 'active', $4, $5, $6)",
        [(new_id(IdKind.SUBSCRIPTION), customer.id, plan.id, anchor, first.start, first.end)
         for _ in range(SUBSCRIPTIONS)])
    wallets = Wallets(partial(PostgresUnitOfWork, pool), SystemClock(), "org_faults")
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "USD")
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked("2000.00"))
    return customer.id, wallet.id


def start_close(settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "services", "close-periods"], env=service_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def invoices_of(pool: Pool, customer_id: str) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM invoices WHERE customer_id = $1", customer_id)
    return count


async def test_a_closer_killed_while_paying_from_a_wallet_pays_each_invoice_once(settings: Settings,
                                                                                  pool: Pool) -> None:
    customer_id, wallet_id = await customer_with_fees_due(pool)
    expected = SUBSCRIPTIONS * DAYS_BEHIND
    closer = start_close(settings)
    await eventually(lambda: invoices_of(pool, customer_id), lambda n: n > 0, 120, interval_s=0.02)
    closer.kill()
    closer.wait()
    assert 0 < await invoices_of(pool, customer_id) < expected

    rerun = start_close(settings)
    _, stderr = await asyncio.to_thread(rerun.communicate, timeout=300)
    assert rerun.returncode == 0, stderr
    statuses = await pool.fetch("SELECT status, count(*) AS n FROM invoices WHERE customer_id = $1 GROUP BY status",
                                customer_id)
    assert {r["status"]: r["n"] for r in statuses} == {"paid": expected}
    paid = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT reference_id) AS invoices, sum(amount) AS total FROM ledger_entries "
        "WHERE wallet_id = $1 AND account_type = 'customer_wallet' AND entry_type = 'usage'", wallet_id)
    assert paid is not None and (paid["n"], paid["invoices"], paid["total"]) == (expected, expected,
                                                                               Decimal(expected))
    balance = await pool.fetchval("SELECT balance FROM wallets WHERE id = $1", wallet_id)
    assert balance == Decimal(2000) - expected
    sides = await pool.fetch("SELECT direction, sum(amount) AS total FROM ledger_entries WHERE wallet_id = $1 "
                             "GROUP BY direction", wallet_id)
    assert len({r["total"] for r in sides}) == 1  # Σ debits = Σ credits
