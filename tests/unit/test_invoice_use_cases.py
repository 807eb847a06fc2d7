"""The invoice use cases (drafts, finalize, void, re-invoice) on fakes of their ports, time stepped."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from meterflow.domain.errors import Conflict, NotFound
from meterflow.domain.invoices import InvoiceLocked, InvoiceStatus
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Aggregation
from tests.unit.billing_world import GRACE, MODE, START, World

DAY = timedelta(days=1)


async def test_generating_again_refreshes_the_same_draft() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    world.use(s, START + timedelta(minutes=5))
    world.clock.advance(timedelta(hours=1))
    first = await world.invoicing.generate_draft(MODE, s.id)
    world.use(s, START + timedelta(hours=1), times=2)
    world.clock.advance(timedelta(hours=1))
    second = await world.invoicing.generate_draft(MODE, s.id)

    assert (first.status, first.total, first.period) == (InvoiceStatus.DRAFT, Decimal("0.50"), Period(START,
                                                                                                       START + DAY))
    assert (second.id, second.total, second.created_at) == (first.id, Decimal("1.50"), first.created_at)
    assert world.invoices_of(s) == [second]


async def test_a_draft_follows_the_clock_into_the_next_period() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    first = await world.invoicing.generate_draft(MODE, s.id)
    world.clock.advance(DAY + GRACE)
    await world.closer.close(world.clock.now())
    following = await world.invoicing.generate_draft(MODE, s.id)
    assert following.id != first.id and following.period.start == START + DAY
    assert [i.status for i in world.invoices_of(s)] == [InvoiceStatus.FINALIZED, InvoiceStatus.DRAFT]


async def test_a_negative_sum_gives_a_zero_draft_not_an_error() -> None:
    world = World()
    s = await world.subscribe(world.add_plan(aggregation=Aggregation.SUM))
    world.use(s, START, "-5")
    draft = await world.invoicing.generate_draft(MODE, s.id)
    assert (draft.lines[0].quantity, draft.total) == (Decimal(-5), Decimal("0.00"))


async def test_finalize_void_and_reinvoice() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    world.use(s, START, times=4)
    draft = await world.invoicing.generate_draft(MODE, s.id)
    world.clock.advance(timedelta(minutes=30))
    finalized = await world.invoicing.set_status(MODE, draft.id, InvoiceStatus.FINALIZED)
    assert (finalized.status, finalized.finalized_at) == (InvoiceStatus.FINALIZED, START + timedelta(minutes=30))
    assert await world.invoicing.set_status(MODE, draft.id, InvoiceStatus.FINALIZED) == finalized

    with pytest.raises(InvoiceLocked):
        await world.invoicing.generate_draft(MODE, s.id)  # the period is finalized
    with pytest.raises(Conflict, match="only a void invoice"):
        await world.invoicing.reinvoice(MODE, draft.id)

    voided = await world.invoicing.set_status(MODE, draft.id, InvoiceStatus.VOID)
    assert voided.voided_at == START + timedelta(minutes=30)
    world.use(s, START)
    again = await world.invoicing.reinvoice(MODE, draft.id)
    assert (again.status, again.total, again.period) == (InvoiceStatus.FINALIZED, Decimal("2.50"), draft.period)
    with pytest.raises(InvoiceLocked):
        await world.invoicing.reinvoice(MODE, draft.id)  # a live invoice covers the period again
    with pytest.raises(InvoiceLocked):
        await world.invoicing.set_status(MODE, draft.id, InvoiceStatus.FINALIZED)  # void is final


async def test_only_drafts_are_regenerated_and_unknown_ids_are_not_found() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    draft = await world.invoicing.generate_draft(MODE, s.id)
    world.use(s, START)
    assert (await world.invoicing.regenerate(MODE, draft.id)).total == Decimal("0.50")
    await world.invoicing.set_status(MODE, draft.id, InvoiceStatus.FINALIZED)
    with pytest.raises(Conflict, match="only drafts"):
        await world.invoicing.regenerate(MODE, draft.id)
    with pytest.raises(NotFound) as missing:
        await world.invoicing.generate_draft(MODE, "sub_missing")
    assert missing.value.param == "subscription_id"
    with pytest.raises(NotFound):
        await world.invoicing.set_status(MODE, "inv_missing", InvoiceStatus.VOID)


async def test_starting_a_subscription_needs_a_customer_and_a_plan_of_the_mode() -> None:
    world = World()
    plan = world.add_plan()
    with pytest.raises(NotFound) as missing:
        await world.subscriptions.start(MODE, "cus_missing", plan.id, None)
    assert missing.value.param == "customer_id"
    s = await world.subscribe(plan)
    with pytest.raises(NotFound) as no_plan:
        await world.subscriptions.start(MODE, s.customer_id, "plan_missing", None)
    assert no_plan.value.param == "plan_id"
    with pytest.raises(NotFound):
        await world.subscriptions.cancel(MODE, "sub_missing")
