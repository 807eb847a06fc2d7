"""Wallet first at finalize (application/wallets.py `pay_from_wallets`), on the fake billing world: a
collection invoice is paid from the customer's wallet in its currency, in the finalize's own unit of work,
once; a wallet short of the total pays what it has and the invoice stays finalized; payout plans and
other currencies are never touched."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from meterflow.application.invoices import Invoicing
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.domain.alerts import Alert, AlertFiring, AlertScope, AlertType, thresholds_of
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.wallets import AccountType, Direction, EntryType, Wallet
from tests.unit.billing_world import GRACE, MODE, ORG, START, World

DAY = timedelta(days=1)


async def funded(world: World, customer_id: str, amount: str, currency: str = "USD") -> Wallet:
    world.db.tables.customers[customer_id] = world.customers[customer_id]  # the world keeps its own
    wallets = Wallets(world.db.unit_of_work, world.clock, ORG)
    wallet, _ = await wallets.get_or_create(MODE, customer_id, currency)
    after, _ = await wallets.move(MODE, wallet.id, Direction.CREDIT, MovementAsked(amount))
    return after


def balance(world: World, wallet: Wallet) -> Decimal:
    return world.db.tables.wallets.wallets[wallet.id].balance


async def closed(world: World, subscription_id: str) -> Invoice:
    world.clock.set(START + DAY + GRACE)
    await world.closer.close(world.clock.now())
    [invoice] = [i for i in world.db.tables.invoices.values() if i.subscription_id == subscription_id]
    return invoice


async def test_period_close_pays_a_collection_invoice_from_the_wallet_once() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())  # 0.50 an event
    wallet = await funded(world, s.customer_id, "10.00")
    world.use(s, START + timedelta(hours=2), times=14)  # 7.00
    invoice = await closed(world, s.id)
    assert (invoice.status, invoice.total, balance(world, wallet)) == (InvoiceStatus.PAID, Decimal("7.00"),
                                                                       Decimal("3.00"))
    usage = [e for e in world.db.tables.wallets.entries if e.entry_type is EntryType.USAGE]
    assert {(e.account_type, e.amount, e.reference_type, e.reference_id) for e in usage} == {
        (AccountType.CUSTOMER_WALLET, Decimal("7.00"), "invoice", invoice.id),
        (AccountType.ORGANISATION, Decimal("7.00"), "invoice", invoice.id)}
    assert invoice.provider_invoice_id == usage[0].transaction_id
    await world.closer.close(world.clock.now() + DAY)  # another run: nothing paid twice
    assert balance(world, wallet) == Decimal("3.00")


async def test_a_short_wallet_pays_what_it_has_and_the_invoice_stays_finalized() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    wallet = await funded(world, s.customer_id, "2.50")
    world.use(s, START + timedelta(hours=2), times=14)
    invoice = await closed(world, s.id)
    assert (invoice.status, balance(world, wallet)) == (InvoiceStatus.FINALIZED, Decimal("0.00"))
    assert (invoice.amount_paid, invoice.amount_due) == (Decimal("2.50"), Decimal("4.50")), "collection owes the rest"


async def test_payout_plans_and_wallets_in_another_currency_are_never_charged() -> None:
    world = World()
    payout = await world.subscribe(world.add_plan())
    world.db.tables.plan_types[payout.plan_id] = "payout"
    other = await world.subscribe(world.add_plan())
    payout_wallet = await funded(world, payout.customer_id, "10.00")
    naira = await funded(world, other.customer_id, "10.00", "NGN")
    for s in (payout, other):
        world.use(s, START + timedelta(hours=2), times=4)
    assert (await closed(world, payout.id)).status is InvoiceStatus.FINALIZED
    assert (await closed(world, other.id)).status is InvoiceStatus.FINALIZED
    assert (balance(world, payout_wallet), balance(world, naira)) == (Decimal("10.00"), Decimal("10.00"))


async def test_finalizing_a_draft_through_the_api_pays_it_from_the_wallet() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    wallet = await funded(world, s.customer_id, "5.00")
    world.use(s, START + timedelta(hours=2), times=6)  # 3.00
    world.clock.set(START + timedelta(hours=3))
    draft = await world.invoicing.generate_draft(MODE, s.id)
    paid = await world.invoicing.set_status(MODE, draft.id, InvoiceStatus.FINALIZED)
    assert (paid.status, balance(world, wallet)) == (InvoiceStatus.PAID, Decimal("2.00"))
    assert world.db.tables.invoices[draft.id].status is InvoiceStatus.PAID


def balance_alert(world: World, customer_id: str, below: str) -> Alert:
    alert = Alert(new_id(IdKind.ALERT), MODE, AlertType.WALLET_BALANCE_DROPPED, AlertScope.CUSTOMER, customer_id,
                  None, None, thresholds_of([{"value": below, "label": "low"}]), False, True, START, START)
    world.db.tables.alerts.alerts[alert.id] = alert
    return alert


async def test_a_balance_alert_fired_by_paying_at_close_is_reported_with_the_close() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    wallet = await funded(world, s.customer_id, "10.00")
    alert = balance_alert(world, s.customer_id, "5")
    world.use(s, START + timedelta(hours=2), times=14)  # 7.00: the balance drops to 3.00
    world.clock.set(START + DAY + GRACE)
    summary = await world.closer.close(world.clock.now())
    assert [(f.alert.id, f.state.subject_id, f.state.observed) for f in summary.alerts_fired] == [
        (alert.id, wallet.id, Decimal("3.00"))]
    again = await world.closer.close(world.clock.now())
    assert again.alerts_fired == [], "nothing paid again, nothing fired again"


async def test_a_balance_alert_fired_by_paying_at_finalize_is_told_once_committed() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    await funded(world, s.customer_id, "5.00")
    alert = balance_alert(world, s.customer_id, "2")
    world.use(s, START + timedelta(hours=2), times=6)  # 3.00: the balance drops to 2.00
    world.clock.set(START + timedelta(hours=3))
    told: list[AlertFiring] = []
    invoicing = Invoicing(world.catalog, world.usage, world.db.unit_of_work, world.clock, org_id=ORG,
                          alerts_fired=told.extend)
    draft = await invoicing.generate_draft(MODE, s.id)
    await invoicing.set_status(MODE, draft.id, InvoiceStatus.FINALIZED)
    assert [(f.alert.id, f.state.observed) for f in told] == [(alert.id, Decimal("2.00"))]
