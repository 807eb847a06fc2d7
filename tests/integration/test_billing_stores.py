"""The contract of the billing ports (application/ports/unit_of_work.py), run against the in-memory fake the unit
tests use and against the real Postgres adapter: whatever the use case tests prove on the fake holds on
Postgres too.

Rows a test does not commit are seen by nobody else, so these tests commit only rows no closer would pick.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice, Subscription, SubscriptionStatus, advance
from meterflow.domain.close_failures import CloseFailure, CloseStage
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus, LineItem
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period, period_at
from meterflow.domain.rollups import Aggregation
from meterflow.settings import Settings
from tests.fakes.billing import FakeDatabase
from tests.support import unique

ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
LONG_AGO = datetime(2000, 2, 1, tzinfo=UTC)


async def _postgres(pool: Pool) -> tuple[UnitOfWorkFactory, Customer, Plan]:
    catalog, now = CatalogRepository(pool), datetime.now(UTC)
    metric = Metric(new_id(IdKind.METRIC), Mode.TEST, "calls", unique("e"), Aggregation.COUNT, None, None, now)
    plan = Plan(new_id(IdKind.PLAN), Mode.TEST, "daily", None, "USD", "collection", BillingInterval.DAILY,
                (PlanPrice.parse(new_id(IdKind.PRICE), metric.id, {"model": "flat", "unit_price": "1"}),), now)
    customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, now)
    await catalog.add_metric(metric)
    await catalog.add_plan(plan)
    await catalog.add_customer(customer)
    return partial(PostgresUnitOfWork, pool), customer, plan


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Settings | None:
    """The real server's settings, or None for the fake (sync: the session's servers start outside a loop)."""
    settings: Settings | None = request.getfixturevalue("settings") if request.param == "postgres" else None
    return settings


@pytest.fixture
async def backend(database: Settings | None) -> AsyncIterator[tuple[UnitOfWorkFactory, Customer, Plan]]:
    if database is not None:
        pool = await create_pool(database.database_dsn)
        try:
            yield await _postgres(pool)
        finally:
            await pool.close()
        return
    customer = Customer("cus_fake", Mode.TEST, "ext", "c", None, {}, ANCHOR)
    plan = Plan("plan_fake", Mode.TEST, "daily", None, "USD", "collection", BillingInterval.DAILY, (), ANCHOR)
    yield FakeDatabase().unit_of_work, customer, plan


def subscription(customer: Customer, plan: Plan, days_after: int = 0,
                 status: SubscriptionStatus = SubscriptionStatus.ACTIVE) -> Subscription:
    anchor = ANCHOR + timedelta(days=days_after)
    # A stopped subscription holds an empty period (domain/catalog.py): nothing left to close.
    period = Period(anchor, anchor) if status == SubscriptionStatus.CANCELED else period_at(
        anchor, BillingInterval.DAILY, 0)
    return Subscription(new_id(IdKind.SUBSCRIPTION), customer.mode, customer.id, plan.id, status, anchor,
                        period, False, None, anchor, BillingInterval.DAILY)


def invoice(s: Subscription, status: InvoiceStatus = InvoiceStatus.DRAFT, total: str = "2.50") -> Invoice:
    at = s.current_period.end
    lines = (LineItem("met_1", "price_1", "calls (1 per unit)", Decimal("-2.5"), Decimal(1), Decimal(total)),
             LineItem("met_2", "price_2", "other", Decimal(0), None, Decimal("0.00")))
    return Invoice(new_id(IdKind.INVOICE), s.mode, s.customer_id, s.id, status, "USD", s.current_period, lines,
                   Decimal(total), Decimal(total), at, at if status is InvoiceStatus.FINALIZED else None)


Backend = tuple[UnitOfWorkFactory, Customer, Plan]


async def test_nothing_is_kept_without_commit_and_a_commit_keeps_it(backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    kept, dropped = subscription(customer, plan, status=SubscriptionStatus.CANCELED), subscription(customer, plan)
    async with unit_of_work() as uow:
        await uow.subscriptions.add_subscription(dropped)
    async with unit_of_work() as uow:
        await uow.subscriptions.add_subscription(kept)
        await uow.commit()
    async with unit_of_work() as uow:
        assert await uow.subscriptions.subscription(Mode.TEST, dropped.id) is None
        assert await uow.subscriptions.subscription(Mode.TEST, kept.id) == kept
        assert await uow.subscriptions.subscription(Mode.LIVE, kept.id) is None  # another mode's


async def test_a_savepoint_undoes_only_what_was_written_inside_it(backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    before, inside = subscription(customer, plan), subscription(customer, plan)
    async with unit_of_work() as uow:
        await uow.subscriptions.add_subscription(before)
        with pytest.raises(RuntimeError):
            async with uow.savepoint():
                await uow.subscriptions.add_subscription(inside)
                raise RuntimeError("refused")
        assert await uow.subscriptions.subscription(Mode.TEST, before.id) == before
        assert await uow.subscriptions.subscription(Mode.TEST, inside.id) is None


async def test_one_live_invoice_per_period_whatever_the_caller_inserts(backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    s = subscription(customer, plan)
    first, twin = invoice(s), invoice(s, InvoiceStatus.FINALIZED)
    async with unit_of_work() as uow:
        await uow.subscriptions.add_subscription(s)
        assert await uow.invoices.insert([first]) == {first.id}
        assert await uow.invoices.insert([twin]) == set()
        assert await uow.invoices.live_invoices([first.period_key], lock=True) == {first.period_key: first}
        assert await uow.invoices.invoice(Mode.TEST, first.id) == first  # lines, order and figures intact
        assert await uow.invoices.invoice(Mode.TEST, twin.id) is None

        voided = replace(first, status=InvoiceStatus.VOID, voided_at=first.created_at)
        await uow.invoices.save_status(voided)
        assert await uow.invoices.live_invoices([first.period_key]) == {}
        assert await uow.invoices.insert([twin]) == {twin.id}  # a void invoice's period is billed again
        assert await uow.invoices.invoice(Mode.TEST, first.id) == voided


async def test_a_draft_is_written_over_in_place(backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    s = subscription(customer, plan)
    draft = invoice(s)
    final = replace(invoice(s, InvoiceStatus.FINALIZED, "9.00"), id=draft.id, created_at=draft.created_at,
                    lines=draft.lines[:1])
    async with unit_of_work() as uow:
        await uow.subscriptions.add_subscription(s)
        await uow.invoices.insert([draft])
        await uow.invoices.replace_drafts([final], final.created_at)
        assert await uow.invoices.invoice(Mode.TEST, draft.id) == final


async def test_due_subscriptions_oldest_first_within_limit_only_and_skip(backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    subs = [subscription(customer, plan, days) for days in (3, 1, 2, 0)]
    stopped = subscription(customer, plan, status=SubscriptionStatus.CANCELED)
    async with unit_of_work() as uow:
        for s in [*subs, stopped]:
            await uow.subscriptions.add_subscription(s)
        by_age = [subs[3], subs[1], subs[2], subs[0]]
        assert await uow.subscriptions.lock_due(LONG_AGO, 10, None, ()) == (by_age, [])
        assert await uow.subscriptions.lock_due(LONG_AGO, 2, None, {subs[3].id}) == (by_age[1:3], [])
        assert await uow.subscriptions.lock_due(ANCHOR + timedelta(days=2), 10, None, ()) == (by_age[:2], [])
        assert await uow.subscriptions.lock_due(LONG_AGO, 10, subs[0].id, ()) == ([subs[0]], [])

        moved = replace(advance(subs[0]), cancel_at_period_end=True, canceled_at=ANCHOR)
        await uow.subscriptions.save_lifecycle([moved])
        assert await uow.subscriptions.subscription(Mode.TEST, moved.id, lock=True) == moved


async def test_waiting_periods_are_locked_oldest_first_each_as_its_subscription_and_removed(
        backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    s, other = subscription(customer, plan), subscription(customer, plan, 1)
    hour = timedelta(hours=1)
    first, second = Period(ANCHOR, ANCHOR + hour), Period(ANCHOR + 2 * hour, ANCHOR + 3 * hour)
    async with unit_of_work() as uow:
        for sub in (s, other):
            await uow.subscriptions.add_subscription(sub)
        await uow.subscriptions.add_waiting_periods(s, [second, first], ANCHOR)
        await uow.subscriptions.add_waiting_periods(s, [first], ANCHOR)  # queued twice: kept once
        await uow.subscriptions.add_waiting_periods(other, [Period(ANCHOR, ANCHOR + 5 * hour)], ANCHOR)
        waiting, unreadable = await uow.subscriptions.lock_waiting(LONG_AGO, 10, s.id, ())
        assert (waiting, unreadable) == ([replace(s, current_period=first), replace(s, current_period=second)], [])
        assert await uow.subscriptions.lock_waiting(ANCHOR + 2 * hour, 10, s.id, ()) == (waiting[:1], [])
        assert await uow.subscriptions.lock_waiting(LONG_AGO, 10, s.id, {s.id}) == ([], [])
        await uow.subscriptions.remove_waiting(waiting[:1])
        assert await uow.subscriptions.lock_waiting(LONG_AGO, 10, s.id, ()) == (waiting[1:], [])


async def test_close_failures_are_upserted_listed_and_cleared(backend: Backend) -> None:
    unit_of_work, customer, plan = backend
    s, other = subscription(customer, plan), subscription(customer, plan)
    first = CloseFailure.of(s.id, s.mode, s.current_period, CloseStage.COMPUTE, ValueError("bad\x00 price"),
                            ANCHOR)
    again = replace(first, stage=CloseStage.WRITE, reason="DataError", failed_at=ANCHOR + timedelta(hours=1))
    async with unit_of_work() as uow:
        await uow.close_failures.record([first])
        await uow.close_failures.record([again, replace(first, subscription_id=other.id)])
        listed = await uow.close_failures.listing(1_000)
        mine = [f for f in listed if f.subscription_id in {s.id, other.id}]
        assert mine == [again, replace(first, subscription_id=other.id)]
        assert first.detail == "bad price"
        await uow.close_failures.clear([s.id])
        assert [f.subscription_id for f in await uow.close_failures.listing(1_000)
                if f.subscription_id in {s.id, other.id}] == [other.id]


@pytest.mark.postgres
async def test_a_row_no_code_path_writes_comes_back_apart_from_the_due_ones(pool: Pool) -> None:
    """Postgres only: the fake cannot hold such a row, by construction."""
    unit_of_work, customer, plan = await _postgres(pool)
    odd_plan, readable = new_id(IdKind.PLAN), subscription(customer, plan)
    odd = replace(subscription(customer, plan), plan_id=odd_plan)
    await pool.execute("INSERT INTO plans (id, mode, name, currency, plan_type, billing_period) "
                       "VALUES ($1, 'test', 'odd', 'USD', 'collection', 'fortnightly')", odd_plan)
    try:
        async with unit_of_work() as uow:  # never committed: the subscriptions go with it
            for s in (odd, readable):
                await uow.subscriptions.add_subscription(s)
            due, unreadable = await uow.subscriptions.lock_due(LONG_AGO, 10, None, ())
            assert due == [readable]
            [row] = unreadable
            assert (row.subscription_id, row.period, type(row.error)) == (odd.id, odd.current_period, ValueError)
    finally:  # the API's plan listing would answer 500 on it for the tests that follow
        await pool.execute("DELETE FROM plans WHERE id = $1", odd_plan)
