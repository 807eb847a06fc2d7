"""docs/billing.md, "Periods and the subscription lifecycle" as use cases on fakes, the clock stepped: periods to the
second, trials, pause, resume, cancel now, and the double-billing guard."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from meterflow.domain.catalog import SubscriptionStatus
from meterflow.domain.errors import Conflict
from meterflow.domain.periods import BillingInterval, Period
from tests.unit.billing_world import GRACE, START, World
from tests.unit.test_period_close import close_now

DAY = timedelta(days=1)
ODD = timedelta(hours=3, minutes=37, seconds=12)


async def test_the_first_period_starts_at_the_start_to_the_second() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(), START + ODD)
    assert s.current_period == Period(START + ODD, START + ODD + DAY)


async def test_a_trial_is_never_billed_and_the_first_period_starts_at_its_end() -> None:
    world = World()
    plan = world.add_plan()
    world.catalog.plans[plan.id] = plan = replace(plan, trial_period_days=3)
    s = await world.subscribe(plan)
    assert s.trial_ends_at == START + 3 * DAY
    assert s.current_period == Period(START + 3 * DAY, START + 4 * DAY)
    world.use(s, START + DAY, times=7)  # in the trial
    world.use(s, START + 3 * DAY + timedelta(hours=1), times=2)
    world.clock.set(START + 4 * DAY + GRACE)
    assert await close_now(world) == (1, 1)
    assert [(i.period, i.total) for i in world.invoices_of(s)] == [
        (Period(START + 3 * DAY, START + 4 * DAY), Decimal("1.00"))]


async def test_pause_invoices_the_period_cut_at_that_instant_and_resume_starts_a_new_one() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(BillingInterval.MONTHLY))
    world.use(s, START + DAY, times=2)
    world.clock.set(START + 5 * DAY + ODD)
    paused = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    assert paused.status == SubscriptionStatus.PAUSED
    assert paused.current_period == Period(START, START + 5 * DAY + ODD)
    world.use(s, START + 6 * DAY, times=9)  # while paused: kept, billed by no period

    world.clock.advance(GRACE)
    assert await close_now(world) == (1, 1)
    world.clock.advance(3 * DAY)
    assert await close_now(world) == (0, 0)  # nothing to invoice while paused
    resumed_at = world.clock.now()
    resumed = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.ACTIVE)
    assert (resumed.status, resumed.anchor) == (SubscriptionStatus.ACTIVE, resumed_at)
    assert resumed.current_period.start == resumed_at
    world.use(s, resumed_at + DAY, times=4)

    world.clock.set(resumed.current_period.end + GRACE)
    assert await close_now(world) == (1, 1)
    assert [(i.period.start, i.total) for i in world.invoices_of(s)] == [
        (START, Decimal("1.00")), (resumed_at, Decimal("2.00"))]


async def test_cancel_now_invoices_the_period_cut_at_that_instant_then_stops() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(BillingInterval.MONTHLY))
    world.use(s, START + DAY, times=4)
    world.use(s, START + 20 * DAY, times=4)  # after the cancel: never billed
    world.clock.set(START + 10 * DAY)
    canceled = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.CANCELED)
    assert canceled.status == SubscriptionStatus.CANCELED
    assert canceled.current_period == Period(START, START + 10 * DAY)
    with pytest.raises(Conflict):
        await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    world.clock.advance(GRACE)
    assert await close_now(world) == (1, 1)
    world.clock.advance(90 * DAY)
    assert await close_now(world) == (0, 0)
    assert [(i.period.end, i.total) for i in world.invoices_of(s)] == [(START + 10 * DAY, Decimal("2.00"))]


async def test_a_second_subscription_pricing_the_same_metric_is_a_conflict() -> None:
    world = World()
    plan = world.add_plan()
    s = await world.subscribe(plan)
    with pytest.raises(Conflict) as caught:
        await world.subscriptions.start(s.mode, s.customer_id, plan.id, None)
    assert caught.value.param == "plan_id"
    other = world.add_plan()  # its own metric: no usage billed twice
    assert (await world.subscriptions.start(s.mode, s.customer_id, other.id, None)).customer_id == s.customer_id


async def test_a_pause_while_earlier_periods_await_their_close_cuts_only_the_period_containing_it() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(), START - 2 * DAY)  # daily: two ended periods not closed yet
    world.use(s, START - DAY, times=2)
    world.use(s, START + timedelta(hours=1), times=3)
    world.clock.set(START + ODD)
    paused = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    assert paused.current_period == Period(START - 2 * DAY, START - DAY)  # untouched: it ended before
    world.clock.advance(GRACE)
    assert await close_now(world) == (3, 3)
    assert [(i.period, i.total) for i in world.invoices_of(s)] == [
        (Period(START - 2 * DAY, START - DAY), Decimal("0.00")), (Period(START - DAY, START), Decimal("1.00")),
        (Period(START, START + ODD), Decimal("1.50"))]
    assert not world.stored(s).bills


async def test_resume_at_once_then_pause_again_leaves_each_ended_period_to_be_invoiced_exactly_once() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(BillingInterval.MONTHLY))
    world.use(s, START + DAY, times=2)
    world.clock.set(START + 5 * DAY + ODD)
    await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    world.clock.advance(timedelta(milliseconds=300))  # the resume, in the same second as the pause
    resumed = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.ACTIVE)
    assert resumed.status == SubscriptionStatus.ACTIVE and resumed.current_period.start == START + 5 * DAY + ODD
    world.use(s, START + 5 * DAY + ODD + timedelta(minutes=10), times=3)
    world.clock.advance(timedelta(minutes=40))
    second_pause = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    assert second_pause.current_period == Period(START + 5 * DAY + ODD, START + 5 * DAY + ODD + timedelta(minutes=40))

    world.clock.advance(GRACE)
    assert await close_now(world) == (2, 2)  # the waiting period and the current one, in one run
    assert await close_now(world) == (0, 0)
    assert [(i.period, i.total) for i in world.invoices_of(s)] == [
        (Period(START, START + 5 * DAY + ODD), Decimal("1.00")),
        (Period(START + 5 * DAY + ODD, START + 5 * DAY + ODD + timedelta(minutes=40)), Decimal("1.50"))]
    assert world.db.tables.waiting == {}


async def test_cancel_now_after_a_pause_and_a_resume_invoices_every_ended_period_once() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(BillingInterval.MONTHLY))
    world.use(s, START + timedelta(minutes=5), times=1)
    world.clock.set(START + timedelta(minutes=10))
    await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.ACTIVE)
    world.use(s, START + timedelta(minutes=15), times=2)
    world.clock.set(START + timedelta(minutes=20))
    await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    world.clock.set(START + timedelta(minutes=25))
    canceled = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.CANCELED)
    assert canceled.status == SubscriptionStatus.CANCELED
    world.use(s, START + timedelta(minutes=30), times=4)  # after the cancel: never billed

    world.clock.advance(GRACE)
    assert await close_now(world) == (2, 2)
    world.clock.advance(40 * DAY)
    assert await close_now(world) == (0, 0)
    assert [(i.period, i.total) for i in world.invoices_of(s)] == [
        (Period(START, START + timedelta(minutes=10)), Decimal("0.50")),
        (Period(START + timedelta(minutes=10), START + timedelta(minutes=20)), Decimal("1.00"))]


async def test_a_start_and_every_status_change_take_effect_at_the_whole_second() -> None:
    world = World()
    fraction = timedelta(microseconds=482_890)
    s = await world.subscribe(world.add_plan(), START + ODD + fraction)
    assert s.current_period == Period(START + ODD, START + ODD + DAY)
    world.clock.set(START + ODD + timedelta(hours=2) + fraction)
    paused = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.PAUSED)
    assert paused.current_period.end == paused.stops_at == START + ODD + timedelta(hours=2)
    world.clock.advance(timedelta(seconds=3))
    resumed = await world.subscriptions.change_status(s.mode, s.id, SubscriptionStatus.ACTIVE)
    assert resumed.anchor == resumed.current_period.start == START + ODD + timedelta(hours=2, seconds=3)
