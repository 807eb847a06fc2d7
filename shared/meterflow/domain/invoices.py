"""Invoices: rating a period's quantities against a plan's prices (one line per price).

This is the single computation behind both a draft (`POST /v1/invoices/generate`) and a period close,
so the two can never disagree. Each line is rounded once by pricing; subtotal = Σ rounded lines;
vat_amount = subtotal * the plan's vat_rate ÷ 100, rounded once; total = subtotal + vat_amount
(docs/billing.md, "Money and rounding").

The invoice's life is decided here too, for every caller: what writing a computed invoice does to the
period's live invoice (`plan_write`), and which status changes are allowed (`transition`). Invariants:
at most one non-void invoice per (subscription, period); a finalized invoice never changes, except to
become void; a void invoice never changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from meterflow.domain.catalog import Plan
from meterflow.domain.errors import Conflict
from meterflow.domain.modes import Mode
from meterflow.domain.money import round_money
from meterflow.domain.periods import Period
from meterflow.domain.pricing import describe, price_line


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"  # finalized, and every collection attempt the schedule allows failed


class PaymentStatus(StrEnum):
    """Where collecting the invoice stands (the latest attempt's outcome; `none` before any attempt)."""

    NONE = "none"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class LineItem:
    metric_id: str
    price_id: str
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Rating:
    lines: tuple[LineItem, ...]
    subtotal: Decimal
    vat_rate: Decimal = Decimal(0)
    vat_amount: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.vat_amount


@dataclass(frozen=True)
class Invoice:
    id: str
    mode: Mode
    customer_id: str
    subscription_id: str
    status: InvoiceStatus
    currency: str
    period: Period
    lines: tuple[LineItem, ...]
    subtotal: Decimal
    total: Decimal
    created_at: datetime
    finalized_at: datetime | None
    voided_at: datetime | None = None
    vat_rate: Decimal = Decimal(0)
    vat_amount: Decimal = Decimal(0)
    paid_at: datetime | None = None
    provider_invoice_id: str | None = None
    payment_status: PaymentStatus = PaymentStatus.NONE
    amount_paid: Decimal = Decimal(0)

    @property
    def amount_due(self) -> Decimal:
        """What the customer still owes: nothing on a void invoice."""
        return Decimal(0) if self.status is InvoiceStatus.VOID else self.total - self.amount_paid

    @property
    def vat_enabled(self) -> bool:
        return self.vat_rate > 0

    @property
    def period_key(self) -> tuple[str, datetime]:
        """What the one-live-invoice rule is keyed on."""
        return self.subscription_id, self.period.start


class InvoiceLocked(Conflict):
    """The period's live invoice is finalized (or the invoice is void): its amounts can no longer change."""

    def __init__(self, invoice: Invoice, message: str | None = None) -> None:
        super().__init__(message or f"The invoice {invoice.id} for this period is {invoice.status.value}; "
                         "void it first to invoice the period again")
        self.invoice = invoice


@dataclass(frozen=True)
class InvoiceWrite:
    """A computed invoice and how it lands: a new row, or in place of the period's open draft (same id)."""

    invoice: Invoice
    replaces_draft: bool


def plan_write(computed: Invoice, live: Invoice | None) -> InvoiceWrite | None:
    """What writing `computed` does, given the period's live (non-void) invoice: insert it when there is
    none; when a draft is open, write over that draft, keeping its id and creation time (the draft a
    customer saw becomes the invoice, or is refreshed); None when the period is already invoiced."""
    if live is None:
        return InvoiceWrite(computed, replaces_draft=False)
    if live.status is InvoiceStatus.DRAFT:
        return InvoiceWrite(replace(computed, id=live.id, created_at=live.created_at), replaces_draft=True)
    return None


_ALLOWED_FROM = {InvoiceStatus.FINALIZED: {InvoiceStatus.DRAFT},
                 InvoiceStatus.PAID: {InvoiceStatus.FINALIZED, InvoiceStatus.UNCOLLECTIBLE},
                 InvoiceStatus.VOID: {InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED, InvoiceStatus.UNCOLLECTIBLE}}


def transition(invoice: Invoice, to: InvoiceStatus, at: datetime,
               provider_invoice_id: str | None = None) -> Invoice | None:
    """The invoice after moving to `to` at `at`: draft → finalized, finalized or uncollectible → paid
    (collected elsewhere), draft, finalized or uncollectible → void (uncollectible itself is reached only
    by dunning, domain/payments.py). None when it already has that status (asking twice is not an error);
    InvoiceLocked for any other move (a paid invoice is never voided: its money was collected)."""
    if invoice.status is to:
        return None
    if invoice.status not in _ALLOWED_FROM.get(to, set()):
        raise InvoiceLocked(invoice, f"Invoice {invoice.id} is {invoice.status.value} and cannot become "
                                     f"{to.value}")
    if to is InvoiceStatus.FINALIZED:
        return replace(invoice, status=to, finalized_at=at)
    if to is InvoiceStatus.PAID:
        return replace(invoice, status=to, paid_at=at, provider_invoice_id=provider_invoice_id,
                       amount_paid=invoice.total)
    return replace(invoice, status=to, voided_at=at)


def rate(plan: Plan, quantities: Mapping[str, Decimal], metric_names: Mapping[str, str]) -> Rating:
    """Price each of the plan's prices on its metric's quantity (missing quantity = 0)."""
    lines = []
    for stored in plan.prices:
        price = stored.definition
        quantity = quantities.get(stored.metric_id, Decimal(0))
        line = price_line(price, quantity, plan.currency)
        name = metric_names.get(stored.metric_id, stored.metric_id)
        lines.append(LineItem(stored.metric_id, stored.id, f"{name} ({describe(price)})", quantity,
                              line.unit_price, line.amount))
    subtotal = round_money(sum((line.amount for line in lines), Decimal(0)), plan.currency)
    return Rating(tuple(lines), subtotal, plan.vat_rate, round_money(subtotal * plan.vat_rate / 100, plan.currency))
