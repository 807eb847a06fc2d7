"""Payment figures: charges per second through the provider double, and finalize → charge attempt (p99).

A real `meterflow payments` worker charges invoices of one customer (one subscription, one period each)
through the wire double of tests/provider_doubles.py, running in this process. Invoices are finalized and
queued exactly as a use case does it: inserted finalized, and `queue_finalized` in the same unit of work.
Throughput: `invoices` queued before the worker starts, timed from the first charge request to the last
invoice paid. Latency: invoices finalized at a steady pace while the worker runs, from the commit to the
charge request reaching the provider.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from bench.services import spawn, stop, wait_ready
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice, Subscription, SubscriptionStatus
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import PaymentMethod, Provider
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.rollups import Aggregation
from meterflow.settings import Settings
from services.devstack.embedded import free_port
from tests.provider_doubles import provider_double, provider_settings

WRITE_BATCH = 50
EPOCH = datetime(2001, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PaymentFigures:
    invoices: int
    charges_per_s: float
    latency_samples: int
    finalize_to_charge_p50_s: float
    finalize_to_charge_p99_s: float
    charged_twice: int


@dataclass
class Customer1:
    subscription: Subscription
    next_day: int = 0


async def _customer(pool: Pool) -> Customer1:
    """One customer with a Paystack card, one daily subscription: each invoice is one more day of it."""
    now = datetime.now(UTC)
    catalog = CatalogRepository(pool)
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, new_id(IdKind.CUSTOMER), "bench", None, {}, now)
    metric = Metric(new_id(IdKind.METRIC), Mode.TEST, "calls", new_id(IdKind.METRIC), Aggregation.COUNT, None,
                    None, now)
    plan = Plan(new_id(IdKind.PLAN), Mode.TEST, "bench", None, "NGN", "collection", BillingInterval.DAILY,
                (PlanPrice.parse(new_id(IdKind.PRICE), metric.id, {"model": "flat", "unit_price": "1"}),), now)
    await catalog.add_metric(metric)
    await catalog.add_plan(plan)
    await catalog.add_customer(customer)
    # Its period lies far in the past and ends at once: no closer ever bills it.
    subscription = Subscription(new_id(IdKind.SUBSCRIPTION), Mode.TEST, customer.id, plan.id,
                                SubscriptionStatus.CANCELED, EPOCH, Period(EPOCH, EPOCH), False, EPOCH, EPOCH,
                                BillingInterval.DAILY)
    async with PostgresUnitOfWork(pool) as uow:
        await uow.subscriptions.add_subscription(subscription)
        await uow.payments.add_method(PaymentMethod(new_id(IdKind.PAYMENT_METHOD), Mode.TEST, customer.id,
                                                    Provider.PAYSTACK, "AUTH_bench", "visa", "4081", 12, 2030,
                                                    "bench@example.com", True, now, now))
        await uow.commit()
    return Customer1(subscription)


async def _finalize(pool: Pool, customer: Customer1, count: int) -> dict[str, float]:
    """`count` finalized invoices queued in their own transaction, as finalize does: id → commit time."""
    committed: dict[str, float] = {}
    for start in range(0, count, WRITE_BATCH):
        now, s = datetime.now(UTC), customer.subscription
        invoices = []
        for _ in range(min(WRITE_BATCH, count - start)):
            day = EPOCH + timedelta(days=customer.next_day)
            customer.next_day += 1
            invoices.append(Invoice(new_id(IdKind.INVOICE), Mode.TEST, s.customer_id, s.id, InvoiceStatus.FINALIZED,
                                    "NGN", Period(day, day + timedelta(days=1)), (), Decimal("1500.50"),
                                    Decimal("1500.50"), now, now))
        async with partial(PostgresUnitOfWork, pool)() as uow:
            await uow.invoices.insert(invoices)
            await uow.payments.queue_finalized(invoices, now)
            await uow.commit()
        at = time.time()
        committed |= {i.id: at for i in invoices}
    return committed


async def _paid(pool: Pool, ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await pool.fetchval("SELECT count(*) FROM invoices WHERE id = ANY($1::text[]) AND status = 'paid'",
                              ids) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"invoices not all paid within {timeout_s}s")
        await asyncio.sleep(0.05)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(settings: Settings, invoices: int, paced_seconds: float) -> PaymentFigures:
    async with provider_double() as double:
        own = Settings(**{**settings.model_dump(exclude_none=True), **provider_settings(double.url),
                          "payments_web_port": free_port(), "processor_id": "bench-payments",
                          "payment_poll_interval_s": 0.5, "payment_timeout_s": 10})
        pool = await create_pool(own.database_dsn)
        worker = None
        try:
            customer = await _customer(pool)
            backlog = await _finalize(pool, customer, invoices)
            worker = spawn(own, "payments")
            await wait_ready(f"http://127.0.0.1:{own.payments_web_port}/readyz", worker)
            await _paid(pool, list(backlog), 600)
            finished = time.time()
            first = min(double.arrived_at[ref] for ref in double.arrived_at)
            rate = len(backlog) / max(1e-9, finished - first)

            paced: dict[str, float] = {}
            deadline = time.monotonic() + paced_seconds
            while time.monotonic() < deadline:  # 10 finalizes of 2 invoices each per second
                paced |= await _finalize(pool, customer, 2)
                await asyncio.sleep(0.1)
            await _paid(pool, list(paced), 120)
            delays = [double.arrived_at[f"{i.replace('_', '-')}-1"] - at for i, at in paced.items()]
            per_invoice = Counter(c.reference.rsplit("-", 1)[0] for c in double.succeeded())
            charged_twice = sum(1 for n in per_invoice.values() if n > 1)
            return PaymentFigures(len(backlog), rate, len(delays), _quantile(delays, 0.5), _quantile(delays, 0.99),
                                  charged_twice)
        finally:
            if worker is not None:
                await asyncio.to_thread(stop, worker)
            await pool.close()
