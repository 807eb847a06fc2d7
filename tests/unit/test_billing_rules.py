"""The invoice and subscription rules of the domain: what a write does to a period's live invoice, which
status changes are allowed, and a subscription's start, advance and cancel."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.domain.catalog import (
    Customer,
    Plan,
    SubscriptionStatus,
    advance,
    cancel_at_period_end,
    start_subscription,
)
from meterflow.domain.close_failures import CloseFailure, CloseStage
from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.invoices import Invoice, InvoiceLocked, InvoiceStatus, InvoiceWrite, plan_write, transition
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period

T0 = datetime(2027, 1, 31, 9, 41, 7, tzinfo=UTC)
CUSTOMER = Customer("cus_1", Mode.TEST, "ext", "n", None, {}, T0)
PLAN = Plan("plan_1", Mode.TEST, "p", None, "USD", "collection", BillingInterval.MONTHLY, (), T0)
PERIOD = Period(T0.replace(minute=0, second=0), T0.replace(month=2, day=28, minute=0, second=0))


def invoice(status: InvoiceStatus, invoice_id: str = "inv_1", total: str = "1.00") -> Invoice:
    return Invoice(invoice_id, Mode.TEST, "cus_1", "sub_1", status, "USD", PERIOD, (), Decimal(total),
                   Decimal(total), T0, T0 if status is InvoiceStatus.FINALIZED else None)


def test_a_period_without_a_live_invoice_gets_the_computed_one() -> None:
    computed = invoice(InvoiceStatus.FINALIZED, "inv_new")
    assert plan_write(computed, None) == InvoiceWrite(computed, replaces_draft=False)


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED])
def test_an_open_draft_is_written_over_keeping_its_id_and_creation(status: InvoiceStatus) -> None:
    draft = replace(invoice(InvoiceStatus.DRAFT, "inv_draft"), created_at=T0 - timedelta(days=3))
    write = plan_write(invoice(status, "inv_new", "7.00"), draft)
    assert write is not None and write.replaces_draft
    assert (write.invoice.id, write.invoice.created_at, write.invoice.total, write.invoice.status) == (
        "inv_draft", draft.created_at, Decimal("7.00"), status)


def test_a_finalized_period_is_already_invoiced() -> None:
    assert plan_write(invoice(InvoiceStatus.FINALIZED, "inv_new"), invoice(InvoiceStatus.FINALIZED)) is None


@pytest.mark.parametrize(("start", "to", "allowed"), [
    (InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED, True),
    (InvoiceStatus.DRAFT, InvoiceStatus.VOID, True),
    (InvoiceStatus.FINALIZED, InvoiceStatus.VOID, True),
    (InvoiceStatus.FINALIZED, InvoiceStatus.DRAFT, False),
    (InvoiceStatus.VOID, InvoiceStatus.FINALIZED, False),
    (InvoiceStatus.VOID, InvoiceStatus.DRAFT, False),
    (InvoiceStatus.DRAFT, InvoiceStatus.DRAFT, True),
])
def test_invoice_transitions(start: InvoiceStatus, to: InvoiceStatus, allowed: bool) -> None:
    at = T0 + timedelta(hours=1)
    if not allowed:
        with pytest.raises(InvoiceLocked) as refused:
            transition(invoice(start), to, at)
        assert isinstance(refused.value, Conflict) and refused.value.invoice.status is start
        return
    changed = transition(invoice(start), to, at)
    if start is to:
        assert changed is None
        return
    assert changed is not None and changed.status is to and changed.total == Decimal("1.00")
    assert (changed.finalized_at if to is InvoiceStatus.FINALIZED else changed.voided_at) == at


def test_asking_twice_for_the_same_status_changes_nothing() -> None:
    assert transition(invoice(InvoiceStatus.VOID), InvoiceStatus.VOID, T0) is None


def test_a_subscription_starts_at_its_start_to_the_second_with_its_first_period() -> None:
    """docs/billing.md, "Periods and the subscription lifecycle": not rounded to an hour or a day (T0 is 09:41:07)."""
    s = start_subscription("sub_1", CUSTOMER, PLAN, T0, T0 + timedelta(days=1))
    assert s.anchor == T0 == datetime(2027, 1, 31, 9, 41, 7, tzinfo=UTC)
    assert s.current_period == Period(s.anchor, datetime(2027, 2, 28, 9, 41, 7, tzinfo=UTC))
    assert (s.status, s.mode, s.created_at) == (SubscriptionStatus.ACTIVE, Mode.TEST, T0 + timedelta(days=1))
    assert start_subscription("sub_2", CUSTOMER, PLAN, None, T0).anchor == s.anchor  # default: now


def test_advance_moves_to_the_next_period_without_month_end_drift() -> None:
    s = start_subscription("sub_1", CUSTOMER, PLAN, T0, T0)
    ends = []
    for _ in range(3):
        s = advance(s)
        ends.append(s.current_period.end.date().isoformat())
    assert ends == ["2027-03-31", "2027-04-30", "2027-05-31"]
    assert s.status == SubscriptionStatus.ACTIVE


def test_a_cancelled_subscription_stops_after_its_current_period() -> None:
    s = start_subscription("sub_1", CUSTOMER, PLAN, T0, T0)
    cancelled = cancel_at_period_end(s, T0 + timedelta(days=2))
    again = cancel_at_period_end(cancelled, T0 + timedelta(days=5))
    assert again.canceled_at == T0 + timedelta(days=2) and again.cancel_at_period_end
    assert again.current_period == s.current_period and again.status == SubscriptionStatus.ACTIVE
    stopped = advance(again)
    assert stopped.status == SubscriptionStatus.CANCELED


def test_period_arithmetic_past_year_9999_raises_rather_than_inventing_a_date() -> None:
    late = start_subscription("sub_1", CUSTOMER, PLAN, datetime(9999, 11, 30, tzinfo=UTC), T0)
    with pytest.raises((ValueError, OverflowError)):
        advance(advance(late))


def test_a_failure_record_is_always_storable_text() -> None:
    failure = CloseFailure.of("sub_1", Mode.TEST, PERIOD, CloseStage.WRITE, ValueError("a\x00b\udc80" + "x" * 900), T0)
    assert failure.reason == "ValueError"
    assert failure.detail.startswith("a") and "\x00" not in failure.detail and len(failure.detail) == 500
    failure.detail.encode("utf-8")


def test_a_first_period_past_year_9999_is_refused_naming_start_date() -> None:
    with pytest.raises(FieldError) as refused:
        start_subscription("sub_1", CUSTOMER, PLAN, datetime(9999, 12, 15, tzinfo=UTC), T0)
    assert refused.value.param == "start_date"
