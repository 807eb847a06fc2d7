"""Period close as a use case, on fakes of its ports, with the clock stepped across period boundaries
(period end, end + grace, cancel at period end, the next period) instead of backdating data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.domain.catalog import SubscriptionStatus
from meterflow.domain.close_failures import CloseStage, UnreadableSubscription
from meterflow.domain.invoices import InvoiceStatus
from meterflow.domain.payments import PaymentMethod, Provider
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.rollups import Aggregation
from tests.unit.billing_world import GRACE, RETENTION, START, World

DAY = timedelta(days=1)


async def close_now(world: World) -> tuple[int, int]:
    summary = await world.closer.close(world.clock.now())
    assert summary.skipped == []
    return summary.periods_closed, summary.invoices_written


async def test_a_period_closes_once_its_end_plus_grace_has_passed() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    world.use(s, START + timedelta(hours=2), times=3)
    world.use(s, START + DAY, times=5)  # the next period's usage: not on the first invoice

    world.clock.set(START + DAY)
    assert await close_now(world) == (0, 0)  # ended, but within grace
    world.clock.advance(GRACE - timedelta(seconds=1))
    assert await close_now(world) == (0, 0)
    world.clock.advance(timedelta(seconds=1))
    assert await close_now(world) == (1, 1)

    [invoice] = world.invoices_of(s)
    assert (invoice.status, invoice.period, invoice.total) == (
        InvoiceStatus.FINALIZED, Period(START, START + DAY), Decimal("1.50"))
    assert invoice.finalized_at == START + DAY + GRACE
    assert world.stored(s).current_period == Period(START + DAY, START + 2 * DAY)
    assert await close_now(world) == (0, 0)  # closing again changes nothing

    world.clock.advance(DAY)
    assert await close_now(world) == (1, 1)
    assert [i.total for i in world.invoices_of(s)] == [Decimal("1.50"), Decimal("2.50")]


async def test_a_subscription_several_periods_behind_is_caught_up_in_one_run() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(), START - 3 * DAY)
    world.clock.advance(GRACE)
    assert await close_now(world) == (3, 3)
    assert [i.period.start for i in world.invoices_of(s)] == [START - 3 * DAY, START - 2 * DAY, START - DAY]
    assert world.stored(s).current_period.start == START


async def test_cancel_at_period_end_bills_the_last_period_then_stops() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(BillingInterval.MONTHLY))
    world.clock.advance(10 * DAY)
    cancelled = await world.subscriptions.cancel(s.mode, s.id)
    assert cancelled.cancel_at_period_end and cancelled.canceled_at == START + 10 * DAY
    world.use(s, START + 11 * DAY, times=2)

    world.clock.set(datetime(2027, 4, 1, 10, tzinfo=UTC))  # end of March + grace
    assert await close_now(world) == (1, 1)
    assert world.stored(s).status == SubscriptionStatus.CANCELED
    world.clock.advance(60 * DAY)
    assert await close_now(world) == (0, 0)
    assert [i.total for i in world.invoices_of(s)] == [Decimal("1.00")]


async def test_an_open_draft_becomes_the_finalized_invoice_keeping_its_id() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    world.use(s, START + timedelta(hours=1))
    world.clock.advance(timedelta(hours=5))
    draft = await world.invoicing.generate_draft(s.mode, s.id)
    world.use(s, START + timedelta(hours=6))

    world.clock.set(START + DAY + GRACE)
    assert await close_now(world) == (1, 1)
    [invoice] = world.invoices_of(s)
    assert (invoice.id, invoice.status, invoice.total) == (draft.id, InvoiceStatus.FINALIZED, Decimal("1.00"))


async def test_a_negative_quantity_is_shown_and_billed_as_zero() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(aggregation=Aggregation.SUM))
    world.use(s, START + timedelta(hours=1), "3")
    world.use(s, START + timedelta(hours=2), "-8")
    world.clock.set(START + DAY + GRACE)
    assert await close_now(world) == (1, 1)
    [invoice] = world.invoices_of(s)
    assert invoice.lines[0].quantity == Decimal(-5)
    assert (invoice.lines[0].amount, invoice.total) == (Decimal("0.00"), Decimal("0.00"))


async def test_a_poison_subscription_is_skipped_reported_and_retried_while_the_others_close() -> None:
    world = World(chunk_size=3)
    good = [await world.subscribe(world.add_plan()) for _ in range(4)]
    broken = world.add_plan(price={"model": "no-such-model"})
    poison = await world.subscribe(broken)
    world.clock.set(START + DAY + GRACE)

    summary = await world.closer.close(world.clock.now())
    assert summary.periods_closed == 4 and summary.invoices_written == 4
    [failure] = summary.skipped
    assert (failure.subscription_id, failure.stage, failure.reason) == (poison.id, CloseStage.COMPUTE, "PriceError")
    assert failure.period == poison.current_period
    assert all(len(world.invoices_of(s)) == 1 for s in good)
    assert list(world.db.tables.close_failures) == [poison.id]
    assert world.stored(poison).current_period == poison.current_period  # not advanced: due again

    again = await world.closer.close(world.clock.now())
    assert [f.subscription_id for f in again.skipped] == [poison.id]  # tried again on the next run

    del world.catalog.unparseable[broken.id]  # repaired
    assert await close_now(world) == (1, 1)
    assert world.db.tables.close_failures == {}  # cleared once it closes


async def test_a_write_the_database_refuses_is_isolated_to_its_subscription() -> None:
    world = World()
    plan = world.add_plan()
    subscriptions = [await world.subscribe(plan) for _ in range(9)]
    world.db.refuse_invoices_of = {subscriptions[4].id}
    world.clock.set(START + DAY + GRACE)

    summary = await world.closer.close(world.clock.now())
    assert (summary.periods_closed, summary.invoices_written) == (8, 8)
    assert [(f.subscription_id, f.stage) for f in summary.skipped] == [(subscriptions[4].id, CloseStage.WRITE)]
    assert world.invoices_of(subscriptions[4]) == []
    assert world.stored(subscriptions[4]).current_period.start == START
    assert all(world.stored(s).current_period.start == START + DAY for s in subscriptions if s is not
               subscriptions[4])
    assert world.db.commits == 10  # 9 subscriptions started, then one commit for the whole chunk


async def test_period_arithmetic_overflow_is_a_skipped_period_not_a_stalled_closer() -> None:
    world = World()
    world.clock.set(datetime(9999, 11, 1, tzinfo=UTC))
    poison = await world.subscribe(world.add_plan(BillingInterval.MONTHLY))  # next period ends in year 10000
    good = await world.subscribe(world.add_plan())
    world.clock.set(datetime(9999, 12, 1, 2, tzinfo=UTC))

    summary = await world.closer.close(world.clock.now())
    assert summary.periods_closed == 30  # the daily one, a period a day through November
    assert [(f.subscription_id, f.reason) for f in summary.skipped] == [(poison.id, "ValueError")]
    assert len(world.invoices_of(good)) == 30 and world.invoices_of(poison) == []


async def test_an_unreachable_dependency_stops_the_run_and_records_nothing() -> None:
    world = World()
    await world.subscribe(world.add_plan())
    world.clock.set(START + DAY + GRACE)
    world.usage.unreachable = True
    with pytest.raises(ConnectionError):
        await world.closer.close(world.clock.now())
    assert world.db.tables.close_failures == {} and world.db.tables.invoices == {}


async def test_a_dry_run_previews_and_reports_but_writes_nothing() -> None:
    world = World()
    good = await world.subscribe(world.add_plan())
    await world.subscribe(world.add_plan(price={"model": "no-such-model"}))
    world.clock.set(START + DAY + GRACE)
    summary = await world.closer.close(world.clock.now(), dry_run=True)
    assert [i.subscription_id for i in summary.previews] == [good.id]
    assert len(summary.skipped) == 1
    assert world.db.tables.invoices == {} and world.db.tables.close_failures == {}


async def test_a_period_older_than_the_usage_kept_is_skipped_not_invoiced_for_hours() -> None:
    world = World()
    ancient = await world.subscribe(world.add_plan(), datetime(1, 1, 1, tzinfo=UTC))
    recent = await world.subscribe(world.add_plan(BillingInterval.MONTHLY), START - RETENTION + DAY)
    world.clock.advance(GRACE)
    summary = await world.closer.close(world.clock.now())
    assert [(f.subscription_id, f.reason) for f in summary.skipped] == [(ancient.id, "UnbillablePeriod")]
    assert world.invoices_of(ancient) == []
    assert [i.period.start.date().isoformat() for i in world.invoices_of(recent)][::6] == [
        "2026-01-26", "2026-07-26", "2027-01-26"]


async def test_a_row_that_cannot_be_read_is_reported_and_the_chunk_still_closes() -> None:
    world = World()
    good = await world.subscribe(world.add_plan())
    world.db.tables.unreadable = [UnreadableSubscription("sub_odd", good.mode, good.current_period,
                                                         ValueError("'fortnightly' is not a BillingInterval"))]
    world.clock.set(START + DAY + GRACE)
    summary = await world.closer.close(world.clock.now())
    assert summary.periods_closed == 1 and len(world.invoices_of(good)) == 1
    assert [(f.subscription_id, f.stage, f.reason) for f in summary.skipped] == [
        ("sub_odd", CloseStage.READ, "ValueError")]
    assert list(world.db.tables.close_failures) == ["sub_odd"]


@pytest.mark.parametrize("auto_collect", [True, False])
async def test_a_closed_collection_invoice_is_queued_for_collection_in_the_close_s_own_transaction(
        auto_collect: bool) -> None:
    """MF_AUTO_COLLECT: the customer has a default method, so the finalized invoice is queued, due at once
    (with the setting off, nothing is queued)."""
    world = World()
    s = await world.subscribe(world.add_plan())
    world.use(s, START + timedelta(hours=2), times=3)
    world.db.tables.payment_methods["pm_1"] = PaymentMethod(
        "pm_1", s.mode, s.customer_id, Provider.PAYSTACK, "AUTH_1", None, None, None, None, "a@b.co", True, START,
        START)
    world.clock.set(START + DAY + GRACE)
    summary = await replace(world.closer, auto_collect=auto_collect).close(world.clock.now())
    assert summary.invoices_written == 1
    [invoice] = world.invoices_of(s)
    queued = world.db.tables.payment_queue
    assert ({i: r.due_at for i, r in queued.items()} == {invoice.id: world.clock.now()}) if auto_collect else not queued
