"""Collecting invoices, exactly once (docs/payments.md): initiate a payment, charge what the queue says is due,
settle an attempt with what the provider says about its reference.

The order that makes a charge happen at most once:
1. an attempt and its reference are committed (status `pending`) before the provider is called;
2. an attempt found not final when its invoice is claimed (a worker died, a call timed out, ops asked
   for it) is first verified with the provider: a verdict settles it; "never received" sends it, under
   the same reference (a provider refuses a reference twice, so even a call still in flight cannot
   charge twice);
3. a call whose outcome is unknown (timeout, 5xx, lost connection) marks the attempt `unknown` and the
   invoice is looked at again after `recheck_after`: never a new attempt before the old one is resolved;
4. settling locks the invoice, and changes nothing once the attempt is final: a worker, a webhook and a
   repeated webhook may settle the same attempt in any order, and the first verdict stands.
The queue row, the attempt, the invoice and the webhook events of one step are written in one unit of
work; the Postgres unique indexes (one succeeded attempt per invoice, one row per attempt number) are the
final guard.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from meterflow.application.ports.payments import PaymentProvider, PaymentUnitOfWork, PaymentUnitOfWorkFactory, Providers
from meterflow.application.webhook_outbox import Change, invoice_status_change, record_webhooks
from meterflow.clock import Clock
from meterflow.domain.errors import Conflict, FieldError, NotFound, Unavailable
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus, PaymentStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import (
    FINAL,
    Claim,
    PaymentMethod,
    Provider,
    ProviderOutcome,
    ProviderVerdict,
    Transaction,
    TransactionStatus,
    attempt_reference,
    check_collectible,
    declines,
    in_flight,
    provider_amount,
    resolve,
)
from meterflow.domain.webhooks import EventType

NOT_SENT = ProviderOutcome(ProviderVerdict.FAILED, "not sent: the invoice is no longer due")


class ChargeOutcome:
    """How one claimed invoice ended this round (the metrics' labels)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    PENDING = "pending"
    NOTHING_DUE = "nothing_due"


@dataclass(frozen=True)
class Collection:
    unit_of_work: PaymentUnitOfWorkFactory
    providers: Providers
    clock: Clock
    schedule: tuple[timedelta, ...]
    recheck_after: timedelta
    lease: timedelta
    org_id: str

    # Ops: charge now.
    async def initiate(self, mode: Mode, invoice_id: str, method_id: str | None = None) -> Transaction:
        """A new attempt of a finalized unpaid collection invoice, due now (the worker charges it); the
        attempt already in flight when there is one (asking twice charges once)."""
        now = self.clock.now()
        async with self.unit_of_work() as uow:
            invoice = await _invoice(uow, mode, invoice_id, lock=True)
            check_collectible(invoice, await uow.payments.plan_type_of(mode, invoice_id) or "collection")
            attempts = await uow.payments.transactions(mode, invoice_id)
            current = in_flight(attempts)
            if current is None:
                method = await self._method_for(uow, invoice, method_id)
                self._check_chargeable(method, invoice)
                current = await _open_attempt(uow, invoice, attempts, method, now)
            await uow.payments.schedule(mode, invoice_id, now, method_id, now)
            await uow.commit()
        return current

    async def retry(self, mode: Mode, invoice_id: str, transaction_id: str) -> Transaction:
        """`POST …/transactions/{txn}/retry`: a new attempt now, with that attempt's method."""
        async with self.unit_of_work() as uow:
            found = [t for t in await uow.payments.transactions(mode, invoice_id) if t.id == transaction_id]
        if not found:
            raise NotFound("transaction", transaction_id)
        return await self.initiate(mode, invoice_id, found[0].payment_method_id)

    async def transactions(self, mode: Mode, invoice_id: str) -> list[Transaction]:
        async with self.unit_of_work() as uow:
            await _invoice(uow, mode, invoice_id)
            return await uow.payments.transactions(mode, invoice_id)

    async def _method_for(self, uow: PaymentUnitOfWork, invoice: Invoice, method_id: str | None) -> PaymentMethod:
        if method_id is None:
            method = await uow.payments.default_method(invoice.mode, invoice.customer_id)
            if method is None:
                raise Conflict(f"Customer {invoice.customer_id} has no default payment method: attach one first")
            return method
        method = await uow.payments.method(invoice.mode, method_id)
        if method is None or method.customer_id != invoice.customer_id:
            raise NotFound("payment_method", method_id, "payment_method_id")
        return method

    def _check_chargeable(self, method: PaymentMethod, invoice: Invoice) -> None:
        """FieldError naming `provider` (no key in this mode) or `currency` (not taken by the provider)."""
        if not provider_of(self.providers, method.provider).configured(invoice.mode):
            raise FieldError("provider", f"{method.provider.value} has no secret key for {invoice.mode.value} mode")
        provider_amount(method.provider, invoice.amount_due, invoice.currency)

    # The worker.
    async def claim(self, limit: int) -> list[Claim]:
        now = self.clock.now()
        async with self.unit_of_work() as uow:
            claims = await uow.payments.claim(now, limit, now + self.lease, secrets.token_hex(8))
            await uow.commit()
        return claims

    async def collect(self, claim: Claim) -> tuple[str, Transaction | None]:
        """Take one claimed invoice a step further: resolve its attempt in flight, or start the next one.
        How it ended (ChargeOutcome), and the attempt it concerned."""
        opened = await self._current_attempt(claim)
        if opened is None:
            return ChargeOutcome.NOTHING_DUE, None
        attempt, fresh, method, still_due = opened
        return await self._charge_once(attempt, fresh, method, still_due), attempt

    async def _charge_once(self, attempt: Transaction, fresh: bool, method: PaymentMethod, still_due: bool) -> str:
        provider = self.providers[attempt.provider]
        try:
            if not fresh:
                known = await provider.verify(attempt.mode, attempt.reference)
                if known.verdict is not ProviderVerdict.NOT_FOUND:
                    return await self.settle(attempt.reference, known)
            if not still_due:  # never received, and voided (or paid elsewhere) since: never sent now
                return await self.settle(attempt.reference, NOT_SENT)
            outcome = await provider.charge(attempt.mode, method.token, method.email, attempt.amount, attempt.currency,
                                            attempt.reference)
        except Unavailable:
            await self._unknown(attempt)
            return ChargeOutcome.UNKNOWN
        except FieldError as refusal:  # the provider's key was removed, or it stopped taking the currency
            outcome = ProviderOutcome(ProviderVerdict.FAILED, f"not sent: {refusal.param}: {refusal.message}")
        return await self.settle(attempt.reference, outcome)

    async def _current_attempt(self, claim: Claim) -> tuple[Transaction, bool, PaymentMethod, bool] | None:
        """(attempt, opened now, its method, invoice still due): the one in flight, or a new one when the
        invoice is still due and chargeable. None when there is nothing to do: the queue row is removed."""
        now = self.clock.now()
        async with self.unit_of_work() as uow:
            invoice = await uow.invoices.invoice(claim.mode, claim.invoice_id, lock=True)
            attempts = await uow.payments.transactions(claim.mode, claim.invoice_id)
            current = in_flight(attempts)
            method = await self._due_method(uow, invoice, claim)
            if current is not None:
                used = await uow.payments.method(claim.mode, current.payment_method_id, include_deleted=True)
                assert used is not None  # methods are only ever soft-deleted
                return current, False, used, method is not None
            if invoice is None or method is None:
                await uow.payments.finish(claim.invoice_id)
                await uow.commit()
                return None
            try:
                self._check_chargeable(method, invoice)
            except FieldError as refusal:
                await self._refuse(uow, invoice, attempts, method, refusal, now)
                await uow.commit()
                return None
            opened = await _open_attempt(uow, invoice, attempts, method, now)
            await uow.commit()
        return opened, True, method, True

    async def _due_method(self, uow: PaymentUnitOfWork, invoice: Invoice | None,
                          claim: Claim) -> PaymentMethod | None:
        """The method to charge, or None when the invoice is no longer to be charged (voided, paid
        elsewhere, a payout plan's, nothing to pay) or the customer has no method left."""
        if invoice is None:
            return None
        try:
            check_collectible(invoice, await uow.payments.plan_type_of(invoice.mode, invoice.id) or "collection")
        except Conflict:
            return None
        if claim.payment_method_id:
            chosen = await uow.payments.method(invoice.mode, claim.payment_method_id)
            if chosen is not None:
                return chosen
        return await uow.payments.default_method(invoice.mode, invoice.customer_id)

    async def _refuse(self, uow: PaymentUnitOfWork, invoice: Invoice, attempts: Sequence[Transaction],
                      method: PaymentMethod, refusal: FieldError, now: datetime) -> None:
        """An attempt that cannot be sent at all (provider without key, currency not taken) is recorded as
        failed with the reason, and dunning stops: retrying would fail the same way until ops act."""
        attempt = replace(await _open_attempt(uow, invoice, attempts, method, now), status=TransactionStatus.FAILED,
                          failure_reason=f"not sent: {refusal.param}: {refusal.message}")
        await uow.payments.save_transaction(attempt)
        failed = replace(invoice, payment_status=PaymentStatus.FAILED)
        await uow.invoices.save_status(failed, now)
        await uow.payments.finish(invoice.id)
        await record_webhooks(uow.webhooks, self.org_id, [(EventType.PAYMENT_FAILED, attempt)], now)

    async def _unknown(self, attempt: Transaction) -> None:
        """Nobody knows whether the provider charged: ask again about this reference later, never anew."""
        now = self.clock.now()
        async with self.unit_of_work() as uow:
            await uow.invoices.invoice(attempt.mode, attempt.invoice_id, lock=True)
            current = await uow.payments.transaction_by_reference(attempt.reference)
            if current is None or current.status in FINAL:
                return
            await uow.payments.save_transaction(replace(current, status=TransactionStatus.UNKNOWN, updated_at=now))
            await uow.payments.schedule(attempt.mode, attempt.invoice_id, now + self.recheck_after, None, now)
            await uow.commit()

    # Settling, from the worker or a provider's webhook.
    async def settle(self, reference: str, outcome: ProviderOutcome) -> str:
        async with self.unit_of_work() as uow:
            result = await self.settle_in(uow, reference, outcome)
            await uow.commit()
        return result

    async def settle_in(self, uow: PaymentUnitOfWork, reference: str, outcome: ProviderOutcome) -> str:
        """Apply a verified verdict on the attempt with this reference, in the caller's unit of work."""
        now = self.clock.now()
        found = await uow.payments.transaction_by_reference(reference)
        if found is None:
            return ChargeOutcome.NOTHING_DUE
        invoice = await _invoice(uow, found.mode, found.invoice_id, lock=True)
        attempts = await uow.payments.transactions(found.mode, found.invoice_id)  # read again under the lock
        attempt = next(a for a in attempts if a.reference == reference)
        resolution = resolve(attempt, outcome, invoice, declines(attempts), self.schedule, now, self.recheck_after)
        if resolution is None:
            return ChargeOutcome.NOTHING_DUE
        await uow.payments.save_transaction(resolution.attempt)
        changes: list[Change] = []
        if resolution.invoice is not None:
            await uow.invoices.save_status(resolution.invoice, now)
            if resolution.invoice.status is not invoice.status:
                changes += invoice_status_change(resolution.invoice)
        if resolution.next_due is None:
            await uow.payments.finish(invoice.id)
        else:
            await uow.payments.schedule(invoice.mode, invoice.id, resolution.next_due, None, now)
        status = resolution.attempt.status
        if status is TransactionStatus.SUCCEEDED:
            changes.insert(0, (EventType.PAYMENT_SUCCESS, resolution.attempt))
        elif status is TransactionStatus.FAILED:
            changes.insert(0, (EventType.PAYMENT_FAILED, resolution.attempt))
        await record_webhooks(uow.webhooks, self.org_id, changes, now)
        return status.value if status in FINAL else ChargeOutcome.PENDING


async def _invoice(uow: PaymentUnitOfWork, mode: Mode, invoice_id: str, *, lock: bool = False) -> Invoice:
    invoice = await uow.invoices.invoice(mode, invoice_id, lock=lock)
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    return invoice


async def _open_attempt(uow: PaymentUnitOfWork, invoice: Invoice, attempts: Sequence[Transaction],
                        method: PaymentMethod, now: datetime) -> Transaction:
    """The next attempt, stored with its reference before anything is sent (the caller holds the invoice's
    lock and commits); the invoice's payment is `pending` meanwhile."""
    number = max((a.attempt for a in attempts), default=0) + 1
    attempt = Transaction(new_id(IdKind.TRANSACTION), invoice.mode, invoice.id, method.id, method.provider,
                          attempt_reference(invoice.id, number), invoice.amount_due, invoice.currency,
                          TransactionStatus.PENDING, number, now, now)
    await uow.payments.add_transaction(attempt)
    if invoice.status is InvoiceStatus.FINALIZED:
        await uow.invoices.save_status(replace(invoice, payment_status=PaymentStatus.PENDING), now)
    return attempt


def provider_of(providers: Providers, provider: Provider) -> PaymentProvider:
    found = providers.get(provider)
    if found is None:
        raise FieldError("provider", f"{provider.value} is not available")
    return found
