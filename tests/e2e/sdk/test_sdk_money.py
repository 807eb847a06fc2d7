"""The money rooms through the SDK: wallets, payment methods and invoice payments, alerts. Every amount is
read and sent as an exact `Decimal` (no float on the way), each answer fits its model exactly, and the
calls that must apply once do: a wallet movement under one idempotency key, an invoice charged through the
provider double."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest

from meterflow_client import AsyncMeterflow, ConflictError, Meterflow, Wallet
from tests.e2e.payments_stack import WORKER, PaymentStack, payment_stack, payment_worker
from tests.e2e.sdk.exact import assert_exact
from tests.support import ServiceProcess, eventually, unique

__all__ = ["payment_stack", "payment_worker"]  # fixtures


def new_wallet(client: Meterflow, currency: str = "NGN") -> Wallet:
    customer = client.customers.create(external_id=unique("ext"), name="Wallet owner")
    return client.wallets.create(customer_id=customer.id, currency=currency)


def test_a_wallet_credited_and_debited_holds_exact_decimals_and_a_key_applies_once(client: Meterflow) -> None:
    wallet = new_wallet(client)
    assert wallet.balance == Decimal("0.00") and client.wallets.create(customer_id=wallet.customer_id,
                                                                       currency="NGN") == wallet
    key = unique("topup")
    first = client.wallets.credit(wallet.id, amount=Decimal("0.10"), description="top-up", idempotency_key=key)
    again = client.wallets.credit(wallet.id, amount=Decimal("0.10"), description="top-up", idempotency_key=key)
    assert again.ledger_entries == first.ledger_entries and again.wallet.balance == Decimal("0.10")
    credited = client.wallets.credit(wallet.id, amount=Decimal("0.20"), entry_type="deposit")
    assert credited.wallet.balance == Decimal("0.30")  # 0.1 + 0.2 in binary floats is not 0.3
    debited = client.wallets.debit(wallet.id, amount=Decimal("0.05"), reference_type="order", reference_id="o-1")
    wallet_side, organisation_side = debited.ledger_entries
    assert (wallet_side.balance_before, wallet_side.balance_after, wallet_side.amount) == (
        Decimal("0.30"), Decimal("0.25"), Decimal("0.05"))
    assert wallet_side.wallet_id == wallet.id and organisation_side.wallet_id is None
    assert wallet_side.transaction_id == organisation_side.transaction_id
    with pytest.raises(ConflictError) as overspent:
        client.wallets.debit(wallet.id, amount=Decimal("0.26"))
    assert overspent.value.param == "amount"
    detail = client.wallets.get(wallet.id)
    assert detail.wallet.balance == Decimal("0.25") and detail.virtual_accounts == []
    history = client.wallets.transactions(wallet.id, limit=10)
    assert [e.amount for e in history.transactions] == [Decimal("0.05"), Decimal("0.20"), Decimal("0.10")]
    assert history.total == 3, "the repeated key made no second entry"
    assert [w.id for w in client.wallets.list(customer_id=wallet.customer_id)] == [wallet.id]
    assert [w.id for w in client.wallets.list_for_customer(wallet.customer_id)] == [wallet.id]
    assert client.wallets.virtual_accounts(wallet.id).count == 0
    assert_exact([wallet, first, credited, debited, detail, history])


async def test_the_async_client_reads_the_same_wallet(client: Meterflow, async_client: AsyncMeterflow) -> None:
    wallet = new_wallet(client)
    moved = await async_client.wallets.credit(wallet.id, amount=Decimal("1234567.89"))
    assert (await async_client.wallets.get(wallet.id)).wallet == moved.wallet
    assert moved.wallet.balance == Decimal("1234567.89")


def test_a_payout_account_round_trips(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Payee")
    account = client.payout_accounts.create(customer.id, account_name="Ada", payout_method="bank_transfer",
                                            bank_name="Bank", bank_code="058", account_number="0123456789",
                                            currency="NGN", metadata={"branch": "Yaba"})
    assert account.is_default, "the first account in a currency is its default"
    renamed = client.payout_accounts.update(customer.id, account.id, account_name="Ada L.")
    assert (renamed.account_name, renamed.account_number) == ("Ada L.", "0123456789")
    assert client.payout_accounts.get(customer.id, account.id) == renamed
    assert [a.id for a in client.payout_accounts.list(customer.id).payout_accounts] == [account.id]
    assert client.payout_accounts.delete(customer.id, account.id).message
    assert_exact([account, renamed])


async def test_an_alert_is_created_listed_fired_and_acknowledged(client: Meterflow,
                                                                 async_client: AsyncMeterflow) -> None:
    wallet = new_wallet(client)
    client.wallets.credit(wallet.id, amount=Decimal("100.00"))
    alert = client.alerts.create(type="wallet_balance_dropped", scope="customer", scope_id=wallet.customer_id,
                                 thresholds=[{"value": Decimal("50.50"), "label": "low"}], require_acknowledgment=True)
    assert [t.value for t in alert.thresholds] == [Decimal("50.50")] and alert.status == "enabled"
    assert [a.id for a in client.alerts.list(customer_id=wallet.customer_id).alerts] == [alert.id]
    client.wallets.debit(wallet.id, amount=Decimal("49.51"))  # 50.49: just below the threshold
    fired = await async_client.alerts.get(alert.id)  # the debit fired it, in its own transaction
    [state] = fired.states
    assert (state.wallet_id, state.observed, state.status) == (wallet.id, Decimal("50.49"), "triggered")
    acknowledged = client.alerts.acknowledge(alert.id)
    assert [s.status for s in acknowledged.states] == ["acknowledged"]
    changed = client.alerts.update(alert.id, thresholds=[{"value": Decimal("10"), "label": "empty"}])
    assert [t.value for t in changed.thresholds] == [Decimal("10")]
    assert client.alerts.disable(alert.id).status == "disabled" and client.alerts.enable(alert.id).status == "enabled"
    assert client.alerts.delete(alert.id).message
    assert_exact([alert, fired, acknowledged, changed])


@pytest.fixture
def paying_client(payment_stack: PaymentStack, test_key: str) -> Iterator[Meterflow]:
    """The SDK on the payment tests' gateway, the one pointed at the provider double."""
    with Meterflow(api_key=test_key, base_url=payment_stack.gateway_url, timeout_s=30) as sdk:
        yield sdk


async def test_a_method_attached_through_the_sdk_pays_a_finalized_invoice_exactly_once(
        paying_client: Meterflow, payment_stack: PaymentStack, payment_worker: ServiceProcess) -> None:
    client = paying_client
    payment_worker.start(**{**WORKER, **payment_stack.overrides})
    customer = client.customers.create(external_id=unique("ext"), name="Payer")
    method = client.payment_methods.attach(customer.id, provider="paystack", authorization_code=unique("AUTH"),
                                           email="pay@acme.test")
    assert method.is_default and method.provider == "paystack"
    assert [m.id for m in client.payment_methods.list(customer.id).payment_methods] == [method.id]
    assert client.payment_methods.set_default(customer.id, method.id).is_default
    metric = client.metrics.create(name="calls", event_name=unique("call"), aggregation="count")
    plan = client.plans.create(name="base", currency="NGN", prices=[{
        "metric_id": metric.id, "model": "overage", "base_fee": Decimal("1500.50"),
        "included_units": Decimal(1000), "unit_price": Decimal(1)}])
    subscription = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    draft = client.invoices.generate(subscription_id=subscription.id)
    finalized = client.invoices.finalize(draft.id)
    assert (finalized.total, finalized.amount_due, finalized.amount_paid) == (
        Decimal("1500.50"), Decimal("1500.50"), Decimal("0.00"))

    done = await eventually(lambda: asyncio.to_thread(client.invoices.get, finalized.id),
                            lambda i: i.status == "paid", 30)
    assert (done.payment_status, done.amount_paid, done.amount_due) == ("succeeded", Decimal("1500.50"),
                                                                        Decimal("0.00"))
    [attempt] = client.payments.transactions(finalized.id).transactions
    assert (attempt.status, attempt.amount, attempt.payment_method_id) == ("succeeded", Decimal("1500.50"), method.id)
    [charge] = payment_stack.double.succeeded(attempt.reference)
    assert charge.amount == Decimal(150050), "Paystack is charged in kobo, exactly the total"
    assert_exact([method, finalized, done, attempt])
