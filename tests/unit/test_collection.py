"""The collection use cases on fakes (tests/fakes/payments.py, providers.py): the order that makes a charge
happen at most once, what a lost answer does, dunning to uncollectible, voiding, repeated and late news,
and provider webhooks. The stores' contract is checked against Postgres in
tests/integration/test_payment_stores.py, the provider's against the wire double in
tests/integration/test_payment_providers.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.application.collection import Collection
from meterflow.application.payment_methods import PaymentMethods
from meterflow.application.provider_webhooks import ProviderWebhooks, WebhookResult
from meterflow.clock import SteppedClock
from meterflow.domain.catalog import Customer, Subscription, SubscriptionStatus
from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.events import encode_json
from meterflow.domain.invoices import Invoice, InvoiceStatus, PaymentStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import PaymentMethod, Provider, ProviderOutcome, ProviderVerdict, TransactionStatus
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.webhooks import EndpointStatus, WebhookEndpoint
from tests.fakes.billing import FakeDatabase
from tests.fakes.providers import FakeProvider

START = datetime(2026, 3, 1, tzinfo=UTC)
RECHECK = timedelta(seconds=30)


@dataclass
class World:
    db: FakeDatabase
    clock: SteppedClock
    provider: FakeProvider
    collection: Collection
    invoice: Invoice
    method: PaymentMethod

    def events(self) -> list[str]:
        return [e.type.value for e in sorted(self.db.tables.webhook_events.values(), key=lambda e: e.created_at)]

    def stored(self) -> Invoice:
        return self.db.tables.invoices[self.invoice.id]

    def attempts(self) -> list[TransactionStatus]:
        found = sorted(self.db.tables.payment_transactions.values(), key=lambda t: t.attempt)
        return [t.status for t in found]

    async def round(self) -> list[str]:
        """One worker round: claim what is due now and collect each."""
        return [(await self.collection.collect(c))[0] for c in await self.collection.claim(10)]


@pytest.fixture
def world() -> World:
    db, clock, provider = FakeDatabase(), SteppedClock(START), FakeProvider()
    t = db.tables
    t.customers["cus_1"] = Customer("cus_1", Mode.TEST, "ext", "c", None, {}, START)
    t.subscriptions["sub_1"] = Subscription("sub_1", Mode.TEST, "cus_1", "plan_1", SubscriptionStatus.ACTIVE, START,
                                            Period(START, START + timedelta(days=30)), False, None, START,
                                            BillingInterval.MONTHLY)
    invoice = Invoice("inv_1", Mode.TEST, "cus_1", "sub_1", InvoiceStatus.FINALIZED, "NGN",
                      Period(START - timedelta(days=30), START), (), Decimal("1500.50"), Decimal("1500.50"), START,
                      START)
    t.invoices[invoice.id] = invoice
    method = PaymentMethod("pm_1", Mode.TEST, "cus_1", Provider.PAYSTACK, "AUTH_1", "visa", "4081", 12, 2030,
                           "a@b.co", True, START, START)
    t.payment_methods[method.id] = method
    t.webhook_endpoints["whe_1"] = WebhookEndpoint("whe_1", Mode.TEST, "https://hooks.example", ("*",), None,
                                                   EndpointStatus.ENABLED, "whsec_x", START, START)
    provider.stored = lambda ref: any(x.reference == ref for x in db.tables.payment_transactions.values())
    collection = Collection(db.unit_of_work, {Provider.PAYSTACK: provider}, clock,
                            (timedelta(days=1), timedelta(days=3), timedelta(days=5)), RECHECK, timedelta(minutes=1),
                            "org_1")
    return World(db, clock, provider, collection, invoice, method)


async def queue(world: World) -> None:
    async with world.db.unit_of_work() as uow:
        await uow.payments.queue_finalized([world.invoice], world.clock.now())
        await uow.commit()


async def test_a_queued_invoice_is_charged_once_after_its_attempt_is_stored_and_paid(world: World) -> None:
    await queue(world)
    assert await world.round() == ["succeeded"]
    assert world.provider.charge_calls == ["inv-1-1"] and world.provider.stored_before_charge == [True]
    paid = world.stored()
    assert paid.status is InvoiceStatus.PAID and paid.provider_invoice_id == "inv-1-1" and paid.paid_at == START
    assert paid.payment_status is PaymentStatus.SUCCEEDED and paid.amount_due == 0
    assert world.events() == ["payment.success", "invoice.paid"]
    assert not world.db.tables.payment_queue and await world.round() == []


async def test_an_invoice_a_wallet_paid_in_part_is_charged_only_the_rest(world: World) -> None:
    world.db.tables.invoices["inv_1"] = replace(world.invoice, amount_paid=Decimal("500.50"))
    await queue(world)
    assert await world.round() == ["succeeded"]
    [attempt] = world.db.tables.payment_transactions.values()
    assert attempt.amount == Decimal("1000.00")
    paid = world.stored()
    assert (paid.status, paid.amount_paid, paid.amount_due) == (InvoiceStatus.PAID, Decimal("1500.50"), Decimal(0))


async def test_a_lost_answer_is_verified_later_never_charged_again(world: World) -> None:
    world.provider.lose_answers = 1
    await queue(world)
    assert await world.round() == ["unknown"]
    assert world.attempts() == [TransactionStatus.UNKNOWN] and world.stored().payment_status is PaymentStatus.PENDING
    assert await world.round() == []  # not before the recheck is due
    world.clock.advance(RECHECK)
    assert await world.round() == ["succeeded"]
    assert world.provider.charge_calls == ["inv-1-1"] and world.stored().status is InvoiceStatus.PAID


async def test_an_attempt_the_provider_never_received_is_sent_under_its_own_reference(world: World) -> None:
    first = await world.collection.initiate(Mode.TEST, "inv_1")
    again = await world.collection.initiate(Mode.TEST, "inv_1")  # asking twice charges once
    assert first == again and first.status is TransactionStatus.PENDING
    assert await world.round() == ["succeeded"]
    assert world.provider.charge_calls == [first.reference]


async def test_declines_follow_the_schedule_then_the_invoice_is_uncollectible(world: World) -> None:
    world.provider.declined_tokens.add("AUTH_1")
    await queue(world)
    for wait in (timedelta(0), timedelta(days=1), timedelta(days=3), timedelta(days=5)):
        world.clock.advance(wait - timedelta(seconds=1) if wait else wait)
        assert await world.round() == ([] if wait else ["failed"])
        world.clock.advance(timedelta(seconds=1) if wait else timedelta(0))
        if wait:
            assert await world.round() == ["failed"]
    assert world.attempts() == [TransactionStatus.FAILED] * 4
    assert world.stored().status is InvoiceStatus.UNCOLLECTIBLE
    assert world.events() == ["payment.failed"] * 4 + ["invoice.uncollectible"]
    assert not world.db.tables.payment_queue
    with pytest.raises(Conflict):
        await world.collection.initiate(Mode.TEST, "inv_1")


async def test_voiding_stops_dunning(world: World) -> None:
    world.provider.declined_tokens.add("AUTH_1")
    await queue(world)
    assert await world.round() == ["failed"]
    world.db.tables.invoices["inv_1"] = replace(world.stored(), status=InvoiceStatus.VOID, voided_at=START)
    world.clock.advance(timedelta(days=2))
    assert await world.round() == ["nothing_due"]
    assert len(world.provider.charge_calls) == 1 and not world.db.tables.payment_queue


async def test_repeated_and_late_verdicts_change_nothing(world: World) -> None:
    await queue(world)
    await world.round()
    before = (world.stored(), world.attempts(), world.events())
    for verdict in (ProviderVerdict.SUCCEEDED, ProviderVerdict.FAILED, ProviderVerdict.PENDING):
        assert await world.collection.settle("inv-1-1", ProviderOutcome(verdict)) == "nothing_due"
    assert (world.stored(), world.attempts(), world.events()) == before


async def test_what_is_refused_before_any_attempt(world: World) -> None:
    world.db.tables.plan_types["plan_1"] = "payout"
    with pytest.raises(Conflict, match="payout"):
        await world.collection.initiate(Mode.TEST, "inv_1")
    await queue(world)
    assert not world.db.tables.payment_queue  # a payout plan's document is never queued
    world.db.tables.plan_types["plan_1"] = "collection"
    world.db.tables.invoices["inv_1"] = replace(world.invoice, currency="JPY", total=Decimal(1500))
    with pytest.raises(FieldError) as refused:
        await world.collection.initiate(Mode.TEST, "inv_1")
    assert refused.value.param == "currency" and not world.db.tables.payment_transactions
    world.provider.modes = frozenset()
    world.db.tables.invoices["inv_1"] = world.invoice
    with pytest.raises(FieldError) as unconfigured:
        await world.collection.initiate(Mode.TEST, "inv_1")
    assert unconfigured.value.param == "provider" and not world.provider.charge_calls


async def test_a_webhook_is_applied_once_after_its_signature_and_the_provider_confirm_it(world: World) -> None:
    methods = PaymentMethods(world.db.unit_of_work, {Provider.PAYSTACK: world.provider}, world.clock)
    hooks = ProviderWebhooks(world.db.unit_of_work, {Provider.PAYSTACK: world.provider}, world.collection, methods,
                             world.clock)
    attempt = await world.collection.initiate(Mode.TEST, "inv_1")
    world.provider.charges[attempt.reference] = (attempt.amount, ProviderVerdict.SUCCEEDED)  # charged elsewhere
    body = encode_json({"id": "evt-1", "reference": attempt.reference})
    assert await hooks.receive(Provider.PAYSTACK, {"signature": "forged"}, body) is WebhookResult.FORGED
    assert world.stored().status is InvoiceStatus.FINALIZED
    assert await hooks.receive(Provider.PAYSTACK, {"signature": "good"}, body) is WebhookResult.APPLIED
    assert await hooks.receive(Provider.PAYSTACK, {"signature": "good"}, body) is WebhookResult.DUPLICATE
    assert world.stored().status is InvoiceStatus.PAID and world.events() == ["payment.success", "invoice.paid"]
    unknown = encode_json({"id": "evt-2", "reference": "someone-else-1"})
    assert await hooks.receive(Provider.PAYSTACK, {"signature": "good"}, unknown) is WebhookResult.IGNORED
    with pytest.raises(FieldError) as not_json:
        await hooks.receive(Provider.PAYSTACK, {"signature": "good"}, b"{nope")
    assert not_json.value.param == "body"
    assert await world.round() == [] and world.provider.charge_calls == []  # the webhook ended the work
