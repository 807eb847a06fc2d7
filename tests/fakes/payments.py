"""In-memory fake of the payment store (application/ports/payments.py `PaymentStore`), for unit tests of
the collection use cases only. It keeps the guarantees they rely on, which
tests/integration/test_payment_stores.py checks against the Postgres repository too: the collection rule
of `queue_finalized`, one queue row per invoice, claims leased and skipped while leased, one default
method per customer, a provider event noted once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Claim, PaymentMethod, Provider, Setup, Transaction

if TYPE_CHECKING:
    from tests.fakes.billing import Tables


@dataclass(frozen=True)
class QueueRow:
    mode: Mode
    payment_method_id: str | None
    due_at: datetime
    claimed_until: datetime | None = None
    claim_token: str | None = None


class FakePayments:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def customer_exists(self, mode: Mode, customer_id: str) -> bool:
        found = self._t.customers.get(customer_id)
        return found is not None and found.mode is mode

    def _plan_type(self, invoice: Invoice) -> str | None:
        subscription = self._t.subscriptions.get(invoice.subscription_id)
        return None if subscription is None else self._t.plan_types.get(subscription.plan_id, "collection")

    async def plan_type_of(self, mode: Mode, invoice_id: str) -> str | None:
        invoice = self._t.invoices.get(invoice_id)
        return self._plan_type(invoice) if invoice is not None and invoice.mode is mode else None

    async def add_method(self, method: PaymentMethod) -> None:
        if method.is_default:
            self._clear_default(method.customer_id)
        self._t.payment_methods[method.id] = method

    def _clear_default(self, customer_id: str) -> None:
        for m in list(self._t.payment_methods.values()):
            if m.customer_id == customer_id and m.is_default:
                self._t.payment_methods[m.id] = replace(m, is_default=False)

    async def methods(self, mode: Mode, customer_id: str) -> list[PaymentMethod]:
        found = [m for m in self._t.payment_methods.values()
                 if m.mode is mode and m.customer_id == customer_id and not self._deleted(m)]
        return sorted(found, key=lambda m: (m.created_at, m.id), reverse=True)

    async def method(self, mode: Mode, method_id: str, *, include_deleted: bool = False) -> PaymentMethod | None:
        found = self._t.payment_methods.get(method_id)
        if found is None or found.mode is not mode or (self._deleted(found) and not include_deleted):
            return None
        return found

    def _deleted(self, method: PaymentMethod) -> bool:
        return method.id in self._t.deleted_methods

    async def default_method(self, mode: Mode, customer_id: str) -> PaymentMethod | None:
        return next((m for m in self._t.payment_methods.values()
                     if m.mode is mode and m.customer_id == customer_id and m.is_default), None)

    async def make_default(self, method: PaymentMethod, at: datetime) -> None:
        self._clear_default(method.customer_id)
        self._t.payment_methods[method.id] = replace(method, is_default=True, updated_at=at)

    async def delete_method(self, method: PaymentMethod, at: datetime) -> None:
        self._t.payment_methods[method.id] = replace(method, is_default=False, updated_at=at)
        self._t.deleted_methods.add(method.id)

    async def add_transaction(self, transaction: Transaction) -> None:
        if any(t.invoice_id == transaction.invoice_id and t.attempt == transaction.attempt
               for t in self._t.payment_transactions.values()):
            raise AssertionError("a second row for one attempt number: Postgres refuses it")
        self._t.payment_transactions[transaction.id] = transaction

    async def save_transaction(self, transaction: Transaction) -> None:
        self._t.payment_transactions[transaction.id] = transaction

    async def transactions(self, mode: Mode, invoice_id: str) -> list[Transaction]:
        return sorted((t for t in self._t.payment_transactions.values()
                       if t.mode is mode and t.invoice_id == invoice_id), key=lambda t: t.attempt)

    async def transaction_by_reference(self, reference: str) -> Transaction | None:
        return next((t for t in self._t.payment_transactions.values() if t.reference == reference), None)

    async def queue_finalized(self, invoices: Sequence[Invoice], at: datetime) -> None:
        for invoice in invoices:
            stored = self._t.invoices.get(invoice.id, invoice)
            if (stored.status is InvoiceStatus.FINALIZED and stored.total > 0
                    and self._plan_type(stored) == "collection"
                    and await self.default_method(stored.mode, stored.customer_id) is not None):
                self._t.payment_queue.setdefault(invoice.id, QueueRow(invoice.mode, None, at))

    async def schedule(self, mode: Mode, invoice_id: str, due_at: datetime, method_id: str | None,
                       at: datetime) -> None:
        self._t.payment_queue[invoice_id] = QueueRow(mode, method_id, due_at)

    async def finish(self, invoice_id: str) -> None:
        self._t.payment_queue.pop(invoice_id, None)

    async def claim(self, now: datetime, limit: int, lease_until: datetime, token: str) -> list[Claim]:
        due = sorted(((i, r) for i, r in self._t.payment_queue.items()
                      if r.due_at <= now and (r.claimed_until is None or r.claimed_until < now)),
                     key=lambda item: item[1].due_at)[:limit]
        for invoice_id, row in due:
            self._t.payment_queue[invoice_id] = replace(row, claimed_until=lease_until, claim_token=token)
        return [Claim(i, r.mode, r.payment_method_id, r.due_at, token, lease_until) for i, r in due]

    async def oldest_due(self, now: datetime) -> datetime | None:
        return min((r.due_at for r in self._t.payment_queue.values() if r.due_at <= now), default=None)

    async def note_event(self, provider: Provider, event_id: str, mode: Mode, at: datetime) -> bool:
        key = (provider.value, event_id)
        if key in self._t.provider_events:
            return False
        self._t.provider_events.add(key)
        return True

    async def seen_event(self, provider: Provider, event_id: str) -> bool:
        return (provider.value, event_id) in self._t.provider_events

    async def add_setup(self, setup: Setup) -> None:
        self._t.payment_setups[setup.reference] = setup

    async def setup(self, reference: str, *, lock: bool = False) -> Setup | None:
        return self._t.payment_setups.get(reference)

    async def complete_setup(self, reference: str, method_id: str) -> None:
        self._t.payment_setups[reference] = replace(self._t.payment_setups[reference], payment_method_id=method_id)
