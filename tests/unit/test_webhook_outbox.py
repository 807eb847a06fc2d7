"""The webhook outbox is written by the use cases inside their unit of work: each change commits with its
event (and one delivery per subscribed endpoint of its mode), and a change rolled back leaves no event."""

from __future__ import annotations

from datetime import timedelta

from meterflow.domain.invoices import InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import EndpointStatus, WebhookEndpoint
from tests.unit.billing_world import GRACE, ORG, START, World

DAY = timedelta(days=1)


def events(world: World) -> list[tuple[str, str]]:
    """(type, object id) of every committed event, in the order written."""
    return [(e.type.value, next(iter(e.payload["data"].values()))["id"])
            for e in world.db.tables.webhook_events.values()]


def endpoint(world: World, endpoint_id: str, mode: Mode, events: tuple[str, ...]) -> None:
    world.db.tables.webhook_endpoints[endpoint_id] = WebhookEndpoint(
        endpoint_id, mode, "http://x", events, None, EndpointStatus.ENABLED, "whsec_x", START, START)


async def test_period_close_records_created_and_finalized_and_a_cancel_taking_effect() -> None:
    world = World()
    endpoint(world, "whe_all", Mode.TEST, ("*",))
    endpoint(world, "whe_live", Mode.LIVE, ("*",))
    endpoint(world, "whe_subs", Mode.TEST, ("subscription.canceled",))
    s = await world.subscribe(world.add_plan())
    await world.subscriptions.cancel(Mode.TEST, s.id)
    world.clock.set(START + DAY + GRACE)
    await world.closer.close(world.clock.now())

    [invoice] = world.invoices_of(s)
    assert events(world) == [("subscription.created", s.id), ("invoice.created", invoice.id),
                             ("invoice.finalized", invoice.id), ("subscription.canceled", s.id)]
    finalized = next(e for e in world.db.tables.webhook_events.values() if e.type.value == "invoice.finalized")
    assert finalized.payload["data"]["invoice"]["status"] == "finalized"
    assert finalized.payload["data"]["invoice"]["org_id"] == ORG and finalized.payload["is_test"] is True
    sent = sorted((d.event.type.value, d.endpoint_id) for d in world.db.tables.webhook_deliveries.values())
    assert ("subscription.canceled", "whe_subs") in sent and ("invoice.created", "whe_subs") not in sent
    assert not [d for d in sent if d[1] == "whe_live"]
    assert len([d for d in sent if d[1] == "whe_all"]) == 4


async def test_a_period_whose_write_is_refused_leaves_no_event() -> None:
    world = World()
    good, bad = await world.subscribe(world.add_plan()), await world.subscribe(world.add_plan())
    world.db.refuse_invoices_of.add(bad.id)
    world.clock.set(START + DAY + GRACE)
    summary = await world.closer.close(world.clock.now())
    assert [f.subscription_id for f in summary.skipped] == [bad.id]
    ids = {object_id for _, object_id in events(world)}
    assert {i.id for i in world.invoices_of(good)} <= ids
    assert not {i.id for i in world.invoices_of(bad)} & ids and bad.id in ids  # only its creation


async def test_invoice_status_changes_each_record_their_event_once() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    draft = await world.invoicing.generate_draft(Mode.TEST, s.id)
    await world.invoicing.generate_draft(Mode.TEST, s.id)  # refreshing the draft reports nothing
    await world.invoicing.set_status(Mode.TEST, draft.id, InvoiceStatus.FINALIZED)
    await world.invoicing.set_status(Mode.TEST, draft.id, InvoiceStatus.FINALIZED)  # asked twice: one event
    await world.invoicing.set_status(Mode.TEST, draft.id, InvoiceStatus.PAID)
    assert events(world)[1:] == [("invoice.created", draft.id), ("invoice.finalized", draft.id),
                                 ("invoice.paid", draft.id)]
