"""Invoice use cases for the API and ops: a period's draft, finalize and void, re-invoice a voided period.

The rules are the domain's (`plan_write`, `transition`), the computation and the write path are the
ones period close uses (`compute_invoices`, `write_invoices`), so a draft shows exactly what the close will
bill and the same races resolve the same way: 100 concurrent first drafts of one period all get that one
draft. A draft is computed before its unit of work opens: the computation reads the catalog through the
pool, and a request holding a connection while it waits for another would, a hundred at once, empty the
pool and wait forever. The write path re-decides under the row lock, so nothing checked before it is
trusted blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from meterflow.application.collection_outbox import queue_collection
from meterflow.application.invoicing import compute_invoices, write_invoices
from meterflow.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from meterflow.application.ports.usage import CatalogReader, InvoiceLookup, UsageReader
from meterflow.application.wallets import pay_from_wallets
from meterflow.application.webhook_outbox import invoice_changes, invoice_status_change, record_webhooks
from meterflow.clock import Clock
from meterflow.domain.alerts import AlertFiring
from meterflow.domain.catalog import Subscription
from meterflow.domain.errors import Conflict, NotFound
from meterflow.domain.invoices import Invoice, InvoiceLocked, InvoiceStatus, transition
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period


@dataclass(frozen=True)
class Invoicing:
    catalog: CatalogReader
    usage: UsageReader
    unit_of_work: UnitOfWorkFactory
    clock: Clock
    org_id: str = field(kw_only=True)  # shown in the objects webhook events carry
    auto_collect: bool = field(default=True, kw_only=True)  # finalized invoices go to the payment queue
    # Told the balance alerts that paying from wallets fired, once committed (metrics).
    alerts_fired: Callable[[Sequence[AlertFiring]], None] = field(default=lambda _: None, kw_only=True)

    async def generate_draft(self, mode: Mode, subscription_id: str) -> Invoice:
        """The draft of the subscription's open period, created or refreshed (same id)."""
        async with self.unit_of_work() as uow:
            subscription = await _subscription(uow, mode, subscription_id, "subscription_id")
        return await self._write(subscription, subscription.open_period(self.clock.now()), InvoiceStatus.DRAFT)

    async def regenerate(self, mode: Mode, invoice_id: str) -> Invoice:
        """Refresh a draft's figures from current usage; anything but a draft is a Conflict."""
        return await self._bill_again(mode, invoice_id, InvoiceStatus.DRAFT, InvoiceStatus.DRAFT,
                                      "only drafts are regenerated")

    async def reinvoice(self, mode: Mode, invoice_id: str) -> Invoice:
        """Bill a voided invoice's period again with current usage, as a new finalized invoice."""
        return await self._bill_again(mode, invoice_id, InvoiceStatus.VOID, InvoiceStatus.FINALIZED,
                                      "only a void invoice's period is billed again")

    async def _bill_again(self, mode: Mode, invoice_id: str, required: InvoiceStatus, status: InvoiceStatus,
                          refusal: str) -> Invoice:
        """Compute the period of an invoice that has the `required` status again, written as `status`."""
        async with self.unit_of_work() as uow:
            invoice = await _invoice(uow, mode, invoice_id)
            if invoice.status is not required:
                raise Conflict(f"Invoice {invoice_id} is {invoice.status.value}; {refusal}")
            subscription = await _subscription(uow, mode, invoice.subscription_id, "subscription_id")
        return await self._write(subscription, invoice.period, status)

    async def set_status(self, mode: Mode, invoice_id: str, to: InvoiceStatus, at: datetime | None = None,
                         provider_invoice_id: str | None = None) -> Invoice:
        """Finalize a draft, mark a finalized invoice paid (at `at`, default now), or void a draft or
        finalized invoice; asking twice answers the same invoice."""
        async with self.unit_of_work() as uow:
            invoice = await _invoice(uow, mode, invoice_id, lock=True)
            changed = transition(invoice, to, at or self.clock.now(), provider_invoice_id)
            if changed is None:
                return invoice
            await uow.invoices.save_status(changed)
            await record_webhooks(uow.webhooks, self.org_id, invoice_status_change(changed), self.clock.now())
            paid = await pay_from_wallets(uow, [changed], self.org_id, self.clock.now())  # wallet first
            await queue_collection(uow.payments, paid.invoices, self.clock.now(), self.auto_collect)  # then the rest
            await uow.commit()
        self.alerts_fired(paid.alerts_fired)
        return paid.invoices[0]

    async def _write(self, subscription: Subscription, period: Period, status: InvoiceStatus) -> Invoice:
        now = self.clock.now()
        computed = await compute_invoices(self.catalog, self.usage, [(subscription, period)], now, status)
        async with self.unit_of_work() as uow:
            written = await write_invoices(uow.invoices, computed, now)
            if written.already_invoiced:
                raise InvoiceLocked(written.already_invoiced[0])
            await record_webhooks(uow.webhooks, self.org_id, invoice_changes(written.created, written.invoices), now)
            paid = await pay_from_wallets(uow, written.invoices[:1], self.org_id, now)  # wallet first
            await queue_collection(uow.payments, paid.invoices, now, self.auto_collect)  # then the rest
            await uow.commit()
        self.alerts_fired(paid.alerts_fired)
        return paid.invoices[0]


async def mode_of_invoice(invoices: InvoiceLookup, invoice_id: str, asked: Mode | None = None) -> Mode:
    """The mode an invoice belongs to, found by its id (ids are unique across modes), so ops commands need
    no `--mode`; one given must agree (a NotFound otherwise, as an invoice of another mode is to the API)."""
    for mode in (asked,) if asked else tuple(Mode):
        if await invoices.invoice(mode, invoice_id) is not None:
            return mode
    raise NotFound("invoice", invoice_id)


async def _subscription(uow: UnitOfWork, mode: Mode, subscription_id: str, param: str) -> Subscription:
    subscription = await uow.subscriptions.subscription(mode, subscription_id)
    if subscription is None:
        raise NotFound("subscription", subscription_id, param)
    return subscription


async def _invoice(uow: UnitOfWork, mode: Mode, invoice_id: str, *, lock: bool = False) -> Invoice:
    invoice = await uow.invoices.invoice(mode, invoice_id, lock=lock)
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    return invoice
