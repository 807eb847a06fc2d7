"""Two closers at once, and a closer killed mid-run then re-run: exactly one invoice per period. Poison
subscriptions due beside a thousand good ones: every good period closed, each poison skipped and reported."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, period_at
from meterflow.domain.rollups import Aggregation
from meterflow.settings import Settings
from tests.support import ServiceProcess, eventually, service_env, unique

DAYS_BEHIND = 3


async def due_subscriptions(pool: Pool, n: int) -> tuple[str, list[str]]:
    """n daily subscriptions started DAYS_BEHIND days ago, so DAYS_BEHIND periods each are due."""
    catalog, now, mode = CatalogRepository(pool), datetime.now(UTC), Mode.TEST
    metric = Metric(new_id(IdKind.METRIC), mode, "calls", unique("e"), Aggregation.COUNT, None, None, now)
    await catalog.add_metric(metric)
    plan = Plan(new_id(IdKind.PLAN), mode, "daily", None, "USD", "collection", BillingInterval.DAILY,
                (PlanPrice.parse(new_id(IdKind.PRICE), metric.id, {"model": "flat", "unit_price": "1"}),), now)
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


async def poison_subscriptions(pool: Pool, customer_id: str, plan_id: str) -> dict[str, str]:
    """One due subscription per way a period can fail, written straight into Postgres (the API refuses
    them): the expected failure reason by subscription id."""
    ids = {new_id(IdKind.SUBSCRIPTION): reason
           for reason in ("UnbillablePeriod", "PriceError", "RaiseError", "ValueError")}
    year_one, bad_price, refused, unreadable = ids
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    bad_plan, odd_plan, metric_id = new_id(IdKind.PLAN), new_id(IdKind.PLAN), await pool.fetchval(
        "SELECT metric_id FROM prices WHERE plan_id = $1", plan_id)
    await pool.executemany("INSERT INTO plans (id, mode, name, currency, plan_type, billing_period) "
                           "VALUES ($1, 'test', 'poison', 'USD', 'collection', $2)",
                           [(bad_plan, "daily"), (odd_plan, "fortnightly")])
    await pool.execute("INSERT INTO prices (id, plan_id, position, metric_id, definition) "
                       "VALUES ($1, $2, 0, $3, '{\"model\": \"no-such-model\"}')", new_id(IdKind.PRICE), bad_plan,
                       metric_id)
    # A start in year 1, as the API once accepted: asyncpg stores 0001-01-01T00:00Z as -infinity and reads
    # it back as a naive datetime.min, on which period arithmetic and UTC conversion fail.
    year_one_start = datetime(1, 1, 1, tzinfo=UTC)
    await pool.executemany(
        "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
        "current_period_end) VALUES ($1, 'test', $2, $3, 'active', $4, $4, $5)",
        [(year_one, customer_id, plan_id, year_one_start, year_one_start + timedelta(days=1)),
         (bad_price, customer_id, bad_plan, anchor, anchor + timedelta(days=1)),
         (refused, customer_id, plan_id, anchor, anchor + timedelta(days=1)),
         (unreadable, customer_id, odd_plan, anchor, anchor + timedelta(days=1))])
    # A write the database refuses, as a constraint or a bad value would: only this subscription's invoice.
    await pool.execute(f"""
        CREATE FUNCTION refuse_{refused}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.subscription_id = '{refused}' THEN RAISE EXCEPTION 'refused by the test'; END IF;
            RETURN NEW;
        END $$""")
    await pool.execute(f"CREATE TRIGGER refuse_{refused} BEFORE INSERT ON invoices FOR EACH ROW "
                       f"EXECUTE FUNCTION refuse_{refused}()")
    return ids


async def remove_poison(pool: Pool, ids: dict[str, str]) -> None:
    """Other tests close every due period of the shared database and expect a clean exit."""
    refused = next(i for i, reason in ids.items() if reason == "RaiseError")
    await pool.execute(f"DROP TRIGGER refuse_{refused} ON invoices")
    await pool.execute(f"DROP FUNCTION refuse_{refused}")
    await pool.execute("DELETE FROM subscriptions WHERE id = ANY($1::text[])", list(ids))
    await pool.execute("DELETE FROM close_failures WHERE subscription_id = ANY($1::text[])", list(ids))
    await pool.execute("DELETE FROM prices WHERE plan_id IN (SELECT id FROM plans WHERE name = 'poison')")
    await pool.execute("DELETE FROM plans WHERE name = 'poison'")  # listing plans would choke on the odd one


def run_meterflow(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services", *args], env=service_env(settings),
                          capture_output=True, text=True, timeout=300)


async def skipped_metric(settings: Settings) -> str:
    try:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{settings.closer_web_port}/metrics")).text
    except httpx.TransportError:
        return ""
    return "\n".join(line for line in text.splitlines() if line.startswith("meterflow_close_skipped_total{"))


async def test_poison_subscriptions_are_skipped_and_reported_while_a_thousand_others_close(
        settings: Settings, pool: Pool) -> None:
    customer, good = await due_subscriptions(pool, 1_000)
    plan_id = await pool.fetchval("SELECT plan_id FROM subscriptions WHERE id = $1", good[0])
    poison = await poison_subscriptions(pool, customer, plan_id)
    try:
        run = run_meterflow(settings, "close-periods")
        assert run.returncode == 1, run.stderr
        expected = len(good) * DAYS_BEHIND
        assert await invoice_counts(pool, customer) == (expected, expected)
        assert f"{len(poison)} skipped" in run.stdout
        for subscription_id, reason in poison.items():
            assert f"skipped {subscription_id}" in run.stdout and reason in run.stdout, run.stdout

        listing = run_meterflow(settings, "close-failures", "--limit", "1000").stdout
        assert all(i in listing and r in listing for i, r in poison.items()), listing
        again = run_meterflow(settings, "close-periods")  # tried again, still reported, nothing else changes
        assert again.returncode == 1 and "closed 0 periods" in again.stdout
        assert f"{len(poison)} skipped" in again.stdout
        assert await invoice_counts(pool, customer) == (expected, expected)

        with ServiceProcess.running("closer", settings):
            text = await eventually(lambda: skipped_metric(settings), lambda t: t.count("\n") >= 3, 60)
        for stage, reason in (("compute", "UnbillablePeriod"), ("compute", "PriceError"), ("write", "RaiseError"),
                              ("read", "ValueError")):
            assert f'stage="{stage}",reason="{reason}"' in text or f'reason="{reason}",stage="{stage}"' in text
    finally:
        await remove_poison(pool, poison)
