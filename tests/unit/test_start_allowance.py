"""The start allowance: usage stamped up to five minutes before a subscription's first
period, and billed by no other period of the customer, is billed in that first period; on a plan change
at T every event is billed once. The rule pure, then through drafts and period close on fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from meterflow.domain.catalog import SubscriptionStatus
from meterflow.domain.periods import Period
from meterflow.domain.start_allowance import billed_range, usage_from
from tests.unit.billing_world import GRACE, MODE, START, World
from tests.unit.test_period_close import close_now

ALLOWANCE = timedelta(minutes=5)
SECOND = timedelta(seconds=1)


def test_the_reach_is_the_allowance_unless_an_earlier_subscription_billed_into_it() -> None:
    assert usage_from(START, ALLOWANCE, []) == START - ALLOWANCE
    assert usage_from(START, ALLOWANCE, [START - timedelta(minutes=2)]) == START - timedelta(minutes=2)
    assert usage_from(START, ALLOWANCE, [START - timedelta(hours=1)]) == START - ALLOWANCE
    assert usage_from(START, ALLOWANCE, [START]) == START  # a plan change at the start: nothing before it
    assert usage_from(START, ALLOWANCE, [START + timedelta(days=1)]) == START  # never past the start


async def test_only_the_first_period_reaches_back() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    first, second = s.current_period, Period(s.current_period.end, s.current_period.end + timedelta(days=1))
    assert billed_range(s, first) == Period(START - ALLOWANCE, first.end)
    assert billed_range(s, second) == second


async def test_the_quickstart_sequence_bills_all_ten_events_stamped_just_before_the_start() -> None:
    world = World()
    world.clock.set(START + timedelta(microseconds=482_890))  # created at a fraction of a second
    s = await world.subscribe(world.add_plan())
    assert s.current_period.start == START
    for n in range(10):  # now - 0…9 s, whole and fractional seconds
        world.use(s, world.clock.now() - n * SECOND - (timedelta(milliseconds=250) if n % 2 else timedelta(0)))
    world.use(s, START - timedelta(hours=1))  # beyond the allowance: not billed
    draft = await world.invoicing.generate_draft(MODE, s.id)
    assert (draft.lines[0].quantity, draft.total) == (Decimal(10), Decimal("5.00"))

    world.clock.set(s.current_period.end + GRACE)
    assert await close_now(world) == (1, 1)
    [invoice] = world.invoices_of(s)
    assert invoice.total == Decimal("5.00") and invoice.period == s.current_period


async def test_a_trial_gets_no_allowance() -> None:
    world = World()
    plan = world.add_plan()
    world.catalog.plans[plan.id] = plan = replace(plan, trial_period_days=1)
    s = await world.subscribe(plan)
    assert s.usage_from == s.first_period_start == START + timedelta(days=1)


async def test_a_plan_change_at_t_bills_each_event_once() -> None:
    world = World()
    old_plan = world.add_plan()
    new_plan = replace(old_plan, id="plan_new")
    world.catalog.plans[new_plan.id] = new_plan  # prices the same metric
    old = await world.subscribe(old_plan)
    change = START + timedelta(hours=2)
    world.use(old, change - timedelta(minutes=3), times=2)  # inside the new one's allowance, billed by the old
    world.use(old, change, times=3)
    world.clock.set(change + timedelta(milliseconds=700))
    await world.subscriptions.change_status(MODE, old.id, SubscriptionStatus.CANCELED)
    new = await world.subscriptions.start(MODE, old.customer_id, new_plan.id, None)
    assert new.current_period.start == new.usage_from == change

    world.clock.set(change + GRACE)
    assert await close_now(world) == (1, 1)
    assert [(i.period, i.total) for i in world.invoices_of(old)] == [(Period(START, change), Decimal("1.00"))]
    draft = await world.invoicing.generate_draft(MODE, new.id)
    assert draft.lines[0].quantity == Decimal(3)


async def test_a_subscription_cancelled_in_its_start_second_billed_nothing_and_does_not_shorten_the_reach() -> None:
    world = World()
    plan = world.add_plan()
    world.clock.set(START + timedelta(milliseconds=100))
    first = await world.subscribe(plan)
    world.clock.set(START + timedelta(milliseconds=900))
    await world.subscriptions.change_status(MODE, first.id, SubscriptionStatus.CANCELED)
    again = await world.subscriptions.start(MODE, first.customer_id, plan.id, None)
    assert again.usage_from == START - ALLOWANCE
