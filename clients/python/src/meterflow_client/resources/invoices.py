"""`/v1/invoices`: drafts computed from usage (the same computation as period close), then finalize, void
or mark paid. Every amount is a `Decimal` with the currency's minor units. A finalized invoice of a
collection plan is paid from the customer's wallet first, then charged to their default payment method
(`client.payments`); `payment_status`, `amount_paid` and `amount_due` say where collecting it stands, and
one whose charges all failed becomes `uncollectible`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from meterflow_client._models import APIObject
from meterflow_client._operations import Call, Resource, S, one, operation, paged
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query
from meterflow_client.resources.events import EventOnRecord

InvoiceStatus = Literal["draft", "finalized", "paid", "void", "uncollectible"]
PaymentStatus = Literal["none", "pending", "succeeded", "failed"]


class LineItem(APIObject):
    id: str
    invoice_id: str
    metric_id: str
    price_id: str
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    created_at: datetime


class Invoice(APIObject):
    id: str
    org_id: str
    customer_id: str
    subscription_id: str
    status: str
    currency: str
    period_start: datetime
    period_end: datetime
    line_items: list[LineItem]
    subtotal: Decimal
    vat_enabled: bool
    vat_rate: Decimal | None
    vat_amount: Decimal | None
    total: Decimal
    finalized_at: datetime | None
    paid_at: datetime | None
    provider_invoice_id: str | None
    payment_status: str
    amount_paid: Decimal
    amount_due: Decimal
    created_at: datetime
    updated_at: datetime


def _invoice(invoice_id: str, idempotency_key: str | None = None) -> Call[Invoice]:
    return Call(one("invoice", Invoice), path={"invoice_id": invoice_id}, idempotency_key=idempotency_key)


class Invoices(Resource[S]):
    @operation("POST", "/v1/invoices/generate")
    def generate(*, subscription_id: str, idempotency_key: str | None = None) -> Call[Invoice]:
        """The draft of the subscription's current period, computed now (generating again refreshes the
        same draft)."""
        return Call(one("invoice", Invoice), body={"subscription_id": subscription_id},
                    idempotency_key=idempotency_key)

    @operation("GET", "/v1/invoices/{invoice_id}")
    def get(invoice_id: str) -> Call[Invoice]:
        return _invoice(invoice_id)

    @paged("/v1/invoices", "invoices")
    def list(*, customer_id: str | None = None, subscription_id: str | None = None,
             status: InvoiceStatus | None = None, limit: int | None = None) -> Cursor[Invoice]:
        return Cursor(Invoice, query(customer_id=customer_id, subscription_id=subscription_id, status=status,
                                     limit=limit))

    @operation("POST", "/v1/invoices/{invoice_id}/finalize")
    def finalize(invoice_id: str, *, idempotency_key: str | None = None) -> Call[Invoice]:
        return _invoice(invoice_id, idempotency_key)

    @operation("POST", "/v1/invoices/{invoice_id}/void")
    def void(invoice_id: str, *, idempotency_key: str | None = None) -> Call[Invoice]:
        return _invoice(invoice_id, idempotency_key)

    @operation("POST", "/v1/invoices/{invoice_id}/regenerate")
    def regenerate(invoice_id: str, *, idempotency_key: str | None = None) -> Call[Invoice]:
        """Compute a draft again from the usage as it is now."""
        return _invoice(invoice_id, idempotency_key)

    @operation("POST", "/v1/invoices/{invoice_id}/mark_paid")
    def mark_paid(invoice_id: str, *, paid_at: datetime | None = None, provider_invoice_id: str | None = None,
                  idempotency_key: str | None = None) -> Call[Invoice]:
        """Finalized → paid, for a payment collected elsewhere."""
        body = given(paid_at=paid_at, provider_invoice_id=provider_invoice_id)
        return Call(one("invoice", Invoice), path={"invoice_id": invoice_id}, body=body,
                    idempotency_key=idempotency_key)

    @paged("/v1/invoices/{invoice_id}/events", "events")
    def events(invoice_id: str, *, line: int | None = None, limit: int | None = None) -> Cursor[EventOnRecord]:
        """Exactly the counted events behind the invoice's quantities (or behind its line number `line`)."""
        return Cursor(EventOnRecord, query(line=line, limit=limit), {"invoice_id": invoice_id},
                      "idempotency_key")
