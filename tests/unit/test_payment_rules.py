"""The pure rules of collection (domain/payments.py): exact amounts per provider, references, dunning, and
what a provider's verdict does to an attempt and its invoice, including news that comes twice or late."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.invoices import Invoice, InvoiceStatus, PaymentStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import (
    Provider,
    ProviderOutcome,
    ProviderVerdict,
    Transaction,
    TransactionStatus,
    attempt_reference,
    check_collectible,
    next_retry,
    parse_schedule,
    provider_amount,
    resolve,
)
from meterflow.domain.periods import Period

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SCHEDULE = parse_schedule("1d,3d,5d")
RECHECK = timedelta(seconds=30)


def invoice(status: InvoiceStatus = InvoiceStatus.FINALIZED, total: str = "1500.50") -> Invoice:
    return Invoice("inv_abc", Mode.TEST, "cus_1", "sub_1", status, "NGN", Period(NOW - timedelta(days=30), NOW), (),
                   Decimal(total), Decimal(total), NOW, NOW)


def attempt(status: TransactionStatus = TransactionStatus.PENDING, number: int = 1) -> Transaction:
    return Transaction("txn_1", Mode.TEST, "inv_abc", "pm_1", Provider.PAYSTACK, attempt_reference("inv_abc", number),
                       Decimal("1500.50"), "NGN", status, number, NOW, NOW)


@pytest.mark.parametrize(("provider", "amount", "currency", "sent"), [
    (Provider.PAYSTACK, "1500.50", "NGN", 150050),
    (Provider.PAYSTACK, "0.01", "USD", 1),
    (Provider.PAYSTACK, "12345678901234567.89", "ZAR", 1234567890123456789),
    (Provider.FLUTTERWAVE, "1500.50", "NGN", Decimal("1500.50")),
    (Provider.FLUTTERWAVE, "19.99", "USD", Decimal("19.99")),
    (Provider.FLUTTERWAVE, "5000", "UGX", Decimal("5000")),
])
def test_the_amount_sent_is_the_total_converted_exactly(provider: Provider, amount: str, currency: str,
                                                        sent: int | Decimal) -> None:
    converted = provider_amount(provider, Decimal(amount), currency)
    assert converted == sent and type(converted) is type(sent)


@pytest.mark.parametrize(("provider", "amount", "currency", "param"), [
    (Provider.PAYSTACK, "10.00", "JPY", "currency"),  # not taken: refused, never rounded to another unit
    (Provider.PAYSTACK, "10.00", "EUR", "currency"),
    (Provider.FLUTTERWAVE, "10.00", "KWD", "currency"),
    (Provider.PAYSTACK, "10.005", "NGN", "amount"),  # finer than the kobo
    (Provider.FLUTTERWAVE, "10.5", "UGX", "amount"),  # UGX has no minor unit
    (Provider.PAYSTACK, "0", "NGN", "amount"),
])
def test_an_amount_that_cannot_be_sent_exactly_is_refused_naming_the_field(provider: Provider, amount: str,
                                                                           currency: str, param: str) -> None:
    with pytest.raises(FieldError) as refused:
        provider_amount(provider, Decimal(amount), currency)
    assert refused.value.param == param


def test_a_reference_is_per_attempt_stable_and_made_of_characters_every_provider_takes() -> None:
    assert attempt_reference("inv_Ab9x", 2) == attempt_reference("inv_Ab9x", 2) == "inv-Ab9x-2"
    assert attempt_reference("inv_Ab9x", 1) != attempt_reference("inv_Ab9x", 2)


def test_dunning_waits_per_schedule_then_gives_up() -> None:
    assert (timedelta(days=1), timedelta(days=3), timedelta(days=5)) == SCHEDULE
    assert [next_retry(n, NOW, SCHEDULE) for n in (1, 2, 3, 4)] == [
        NOW + timedelta(days=1), NOW + timedelta(days=3), NOW + timedelta(days=5), None]
    assert parse_schedule("30s, 2m,1.5h") == (timedelta(seconds=30), timedelta(minutes=2), timedelta(hours=1.5))
    with pytest.raises(ValueError, match="unit"):
        parse_schedule("1w")


@pytest.mark.parametrize(("status", "plan_type", "total"), [
    (InvoiceStatus.DRAFT, "collection", "1"), (InvoiceStatus.VOID, "collection", "1"),
    (InvoiceStatus.PAID, "collection", "1"), (InvoiceStatus.UNCOLLECTIBLE, "collection", "1"),
    (InvoiceStatus.FINALIZED, "payout", "1"), (InvoiceStatus.FINALIZED, "collection", "0"),
])
def test_only_a_finalized_unpaid_collection_invoice_with_something_to_pay_is_charged(
        status: InvoiceStatus, plan_type: str, total: str) -> None:
    with pytest.raises(Conflict):
        check_collectible(invoice(status, total), plan_type)
    check_collectible(invoice(), "collection")


def test_success_pays_the_invoice_with_the_reference_and_ends_the_work() -> None:
    done = resolve(attempt(), ProviderOutcome(ProviderVerdict.SUCCEEDED, provider_transaction_id="42"), invoice(), 0,
                   SCHEDULE, NOW, RECHECK)
    assert done is not None and done.next_due is None
    assert done.attempt.status is TransactionStatus.SUCCEEDED and done.attempt.provider_transaction_id == "42"
    assert done.invoice is not None and done.invoice.status is InvoiceStatus.PAID and done.invoice.paid_at == NOW
    assert done.invoice.provider_invoice_id == "inv-abc-1" and done.invoice.amount_paid == Decimal("1500.50")
    assert done.invoice.amount_due == 0 and done.invoice.payment_status is PaymentStatus.SUCCEEDED


def test_a_decline_records_the_reason_and_schedules_the_next_attempt_until_the_last() -> None:
    declined = ProviderOutcome(ProviderVerdict.FAILED, "Insufficient Funds")
    first = resolve(attempt(), declined, invoice(), 0, SCHEDULE, NOW, RECHECK)
    assert first is not None and first.next_due == NOW + timedelta(days=1) == first.attempt.next_attempt_at
    assert first.attempt.failure_reason == "Insufficient Funds" and first.attempt.status is TransactionStatus.FAILED
    assert first.invoice is not None and first.invoice.status is InvoiceStatus.FINALIZED
    assert first.invoice.payment_status is PaymentStatus.FAILED
    last = resolve(attempt(number=4), declined, invoice(), 3, SCHEDULE, NOW, RECHECK)
    assert last is not None and last.next_due is None and last.invoice is not None
    assert last.invoice.status is InvoiceStatus.UNCOLLECTIBLE


def test_news_about_a_final_attempt_changes_nothing_whatever_it_says() -> None:
    for status in (TransactionStatus.SUCCEEDED, TransactionStatus.FAILED):
        for verdict in ProviderVerdict:
            assert resolve(attempt(status), ProviderOutcome(verdict), invoice(), 0, SCHEDULE, NOW, RECHECK) is None


def test_pending_asks_again_later_and_never_received_leaves_the_attempt_to_be_sent() -> None:
    pending = resolve(attempt(TransactionStatus.UNKNOWN), ProviderOutcome(ProviderVerdict.PENDING), invoice(), 0,
                      SCHEDULE, NOW, RECHECK)
    assert pending is not None and pending.next_due == NOW + RECHECK and pending.invoice is None
    assert pending.attempt.status is TransactionStatus.UNKNOWN
    assert resolve(attempt(), ProviderOutcome(ProviderVerdict.NOT_FOUND), invoice(), 0, SCHEDULE, NOW, RECHECK) is None


def test_a_voided_invoice_stops_dunning_and_is_never_marked_paid() -> None:
    void = invoice(InvoiceStatus.VOID)
    failed = resolve(attempt(), ProviderOutcome(ProviderVerdict.FAILED, "Declined"), void, 0, SCHEDULE, NOW, RECHECK)
    assert failed is not None and failed.next_due is None and failed.invoice is None
    charged = resolve(attempt(), ProviderOutcome(ProviderVerdict.SUCCEEDED), void, 0, SCHEDULE, NOW, RECHECK)
    assert charged is not None and charged.invoice is None  # the transaction records the money for a refund
    assert charged.attempt.status is TransactionStatus.SUCCEEDED


def test_an_uncollectible_invoice_is_still_paid_by_a_late_success() -> None:
    late = resolve(attempt(TransactionStatus.UNKNOWN), ProviderOutcome(ProviderVerdict.SUCCEEDED),
                   replace(invoice(), status=InvoiceStatus.UNCOLLECTIBLE), 3, SCHEDULE, NOW, RECHECK)
    assert late is not None and late.invoice is not None and late.invoice.status is InvoiceStatus.PAID
