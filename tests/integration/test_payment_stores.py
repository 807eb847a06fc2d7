"""The contract of the payment store (application/ports/payments.py), run against the in-memory fake the use
case tests use and against the Postgres repository: the collection rule of the finalize seam, the queue's
leases, one default method per customer, attempts and provider events.

Timestamps are in the year 2000: a claim made by this test (as of then) can take only this test's rows,
and every queue row it commits is removed again before it ends. Its subscriptions are stopped ones, which
no closer picks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.ports.payments import PaymentUnitOfWork
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice, SubscriptionStatus
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import (
    PaymentMethod,
    Provider,
    Setup,
    Transaction,
    TransactionStatus,
    attempt_reference,
)
from meterflow.domain.periods import BillingInterval
from meterflow.domain.rollups import Aggregation
from meterflow.settings import Settings
from tests.fakes.billing import FakeDatabase
from tests.integration.test_billing_stores import ANCHOR, invoice, subscription
from tests.support import unique

Factory = Callable[[], PaymentUnitOfWork]


@dataclass
class World:
    """A backend and what a test needs in it: a customer, a collection plan and a payout plan."""

    unit_of_work: Factory
    customer: Customer
    collection: Plan
    payout: Plan


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Settings | None:
    settings: Settings | None = request.getfixturevalue("settings") if request.param == "postgres" else None
    return settings


def _plan(plan_type: str, metric_id: str) -> Plan:
    return Plan(new_id(IdKind.PLAN), Mode.TEST, plan_type, None, "USD", plan_type, BillingInterval.DAILY,
                (PlanPrice.parse(new_id(IdKind.PRICE), metric_id, {"model": "flat", "unit_price": "1"}),), ANCHOR)


@pytest.fixture
async def world(database: Settings | None) -> AsyncIterator[World]:
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, ANCHOR)
    metric = Metric(new_id(IdKind.METRIC), Mode.TEST, "calls", unique("e"), Aggregation.COUNT, None, None, ANCHOR)
    collection, payout = _plan("collection", metric.id), _plan("payout", metric.id)
    if database is None:
        db = FakeDatabase()
        db.tables.customers[customer.id] = customer
        db.tables.plan_types.update({collection.id: "collection", payout.id: "payout"})
        yield World(db.unit_of_work, customer, collection, payout)
        return
    pool = await create_pool(database.database_dsn)
    catalog = CatalogRepository(pool)
    await catalog.add_metric(metric)
    for plan in (collection, payout):
        await catalog.add_plan(plan)
    await catalog.add_customer(customer)
    try:
        yield World(partial(PostgresUnitOfWork, pool), customer, collection, payout)
    finally:
        await pool.execute("DELETE FROM payment_queue WHERE invoice_id IN (SELECT id FROM invoices "
                           "WHERE customer_id = $1)", customer.id)
        await pool.close()


def method(customer: Customer, default: bool = True, at: datetime = ANCHOR) -> PaymentMethod:
    return PaymentMethod(new_id(IdKind.PAYMENT_METHOD), Mode.TEST, customer.id, Provider.PAYSTACK, unique("AUTH"),
                         "visa", "4081", 12, 2030, "a@b.co", default, at, at)


async def _invoices(world: World, *made: tuple[Plan, InvoiceStatus, str]) -> list[Invoice]:
    invoices = []
    async with world.unit_of_work() as uow:
        for n, (plan, status, total) in enumerate(made):
            # Stopped: its period is empty, so no closer (nor test_billing_stores' due scan) ever picks it.
            s = subscription(world.customer, plan, days_after=n, status=SubscriptionStatus.CANCELED)
            await uow.subscriptions.add_subscription(s)
            invoices.append(invoice(s, status, total))
        await uow.invoices.insert(invoices)
        await uow.commit()
    return invoices


async def _claimed(world: World, now: datetime, lease: timedelta = timedelta(minutes=1)) -> set[str]:
    async with world.unit_of_work() as uow:
        claims = await uow.payments.claim(now, 100, now + lease, unique("t"))
        await uow.commit()
    return {c.invoice_id for c in claims}


async def test_finalize_queues_only_collection_invoices_with_something_to_pay_and_a_default_method(
        world: World) -> None:
    due, payout, zero, draft = await _invoices(
        world, (world.collection, InvoiceStatus.FINALIZED, "2.50"), (world.payout, InvoiceStatus.FINALIZED, "2.50"),
        (world.collection, InvoiceStatus.FINALIZED, "0"), (world.collection, InvoiceStatus.DRAFT, "2.50"))
    async with world.unit_of_work() as uow:
        await uow.payments.queue_finalized([due], ANCHOR)  # no default method yet
        await uow.commit()
    assert await _claimed(world, ANCHOR) == set()
    async with world.unit_of_work() as uow:
        await uow.payments.add_method(method(world.customer))
        for _ in range(2):
            await uow.payments.queue_finalized([due, payout, zero, draft], ANCHOR)
        await uow.commit()
    assert await _claimed(world, ANCHOR) == {due.id}


async def test_a_claim_is_leased_and_a_reschedule_drops_the_lease(world: World) -> None:
    [due] = await _invoices(world, (world.collection, InvoiceStatus.FINALIZED, "2.50"))
    async with world.unit_of_work() as uow:
        await uow.payments.schedule(Mode.TEST, due.id, ANCHOR, None, ANCHOR)
        await uow.commit()
    assert await _claimed(world, ANCHOR - timedelta(seconds=1)) == set()  # not due yet
    assert await _claimed(world, ANCHOR) == {due.id}
    assert await _claimed(world, ANCHOR + timedelta(seconds=30)) == set()  # leased to the first claim
    assert await _claimed(world, ANCHOR + timedelta(minutes=2)) == {due.id}  # the lease ran out
    later = ANCHOR + timedelta(days=1)
    async with world.unit_of_work() as uow:
        await uow.payments.schedule(Mode.TEST, due.id, later, None, ANCHOR)
        assert await uow.payments.oldest_due(later) == later
        await uow.commit()
    assert await _claimed(world, later - timedelta(seconds=1)) == set()
    assert await _claimed(world, later) == {due.id}
    async with world.unit_of_work() as uow:
        await uow.payments.finish(due.id)
        await uow.commit()
    assert await _claimed(world, later + timedelta(days=1)) == set()


async def test_one_default_method_per_customer_and_a_deleted_one_is_never_offered(world: World) -> None:
    first, second = method(world.customer), method(world.customer, at=ANCHOR + timedelta(seconds=1))
    async with world.unit_of_work() as uow:
        await uow.payments.add_method(first)
        await uow.payments.add_method(second)  # the new default
        assert await uow.payments.default_method(Mode.TEST, world.customer.id) == second
        await uow.payments.make_default(first, ANCHOR)
        assert (await uow.payments.default_method(Mode.TEST, world.customer.id) or second).id == first.id
        await uow.payments.delete_method(first, ANCHOR)
        assert await uow.payments.default_method(Mode.TEST, world.customer.id) is None
        assert [m.id for m in await uow.payments.methods(Mode.TEST, world.customer.id)] == [second.id]
        assert await uow.payments.method(Mode.TEST, first.id) is None
        assert await uow.payments.method(Mode.TEST, first.id, include_deleted=True) is not None
        assert await uow.payments.method(Mode.LIVE, second.id) is None
        assert await uow.payments.customer_exists(Mode.TEST, world.customer.id)
        assert not await uow.payments.customer_exists(Mode.LIVE, world.customer.id)
        await uow.commit()


async def test_attempts_by_reference_in_order_and_provider_events_noted_once(world: World) -> None:
    [due] = await _invoices(world, (world.collection, InvoiceStatus.FINALIZED, "2.50"))
    card = method(world.customer)
    attempts = [Transaction(new_id(IdKind.TRANSACTION), Mode.TEST, due.id, card.id, Provider.PAYSTACK,
                            attempt_reference(due.id, n), Decimal("2.50"), "USD", TransactionStatus.PENDING, n,
                            ANCHOR, ANCHOR) for n in (2, 1)]
    event = unique("charge.success")
    async with world.unit_of_work() as uow:
        await uow.payments.add_method(card)
        for attempt in attempts:
            await uow.payments.add_transaction(attempt)
        failed = replace(attempts[1], status=TransactionStatus.FAILED, failure_reason="Declined",
                         next_attempt_at=ANCHOR + timedelta(days=1))
        await uow.payments.save_transaction(failed)
        assert await uow.payments.transactions(Mode.TEST, due.id) == [failed, attempts[0]]
        assert await uow.payments.transaction_by_reference(attempts[0].reference) == attempts[0]
        assert await uow.payments.plan_type_of(Mode.TEST, due.id) == "collection"
        assert await uow.payments.note_event(Provider.PAYSTACK, event, Mode.TEST, ANCHOR)
        assert not await uow.payments.note_event(Provider.PAYSTACK, event, Mode.TEST, ANCHOR)
        assert await uow.payments.seen_event(Provider.PAYSTACK, event)
        assert not await uow.payments.seen_event(Provider.FLUTTERWAVE, event)
        setup = Setup(unique("setup"), Mode.TEST, world.customer.id, Provider.PAYSTACK, "a@b.co", "https://x", None,
                      ANCHOR)
        await uow.payments.add_setup(setup)
        await uow.payments.complete_setup(setup.reference, card.id)
        assert await uow.payments.setup(setup.reference) == replace(setup, payment_method_id=card.id)
        await uow.commit()
