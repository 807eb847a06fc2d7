"""Wallets (docs/wallets.md): get-or-create, credit, debit, and the reads the API shows.

A movement happens in one unit of work: the wallet's row is locked, the idempotency key is looked up
under that lock (so a repeat that raced the first sees it), the domain computes the new balance and the
two entries, and both are written before the commit. Concurrent debits of one wallet therefore queue on
the lock and each sees the balance the previous one left: none overspends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from meterflow.application.alerts import fire_balance_alerts
from meterflow.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory, WalletStore
from meterflow.application.webhook_outbox import invoice_status_change, record_webhooks, wallet_change
from meterflow.clock import Clock
from meterflow.domain.alerts import AlertFiring
from meterflow.domain.errors import Conflict, NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus, transition
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import (
    Direction,
    LedgerEntry,
    Movement,
    Wallet,
    WalletMovement,
    apply,
    check_currency,
    invoice_key,
    invoice_payment,
    movement,
    parse_amount,
    same_request,
)


@dataclass(frozen=True)
class MovementAsked:
    """A credit or debit body as received (Monigo's field names; empty text means not given)."""

    amount: object
    currency: str = ""
    description: str = ""
    entry_type: str = ""
    reference_type: str = ""
    reference_id: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class Moved:
    wallet: Wallet
    entries: list[LedgerEntry]
    alerts_fired: list[AlertFiring]


@dataclass(frozen=True)
class WalletFirst:
    """What paying from wallets did: the invoices as they now stand, and the balance alerts its debits
    fired (counted by the caller once its transaction commits)."""

    invoices: list[Invoice]
    alerts_fired: list[AlertFiring]


async def move_locked(uow: UnitOfWork, wallet: Wallet, asked: Movement, org_id: str, at: datetime) -> Moved:
    """Apply `asked` to a wallet whose row the caller's unit of work holds: once per idempotency key (a
    repeat answers the transaction on record and reports nothing), never beyond the balance; a movement
    made is reported as `wallet.credited` or `wallet.debited` in the same transaction, and fires (or
    re-arms) the balance alerts it crosses there too."""
    if asked.idempotency_key:
        earlier = await uow.wallets.transaction_by_key(wallet.id, asked.idempotency_key)
        if earlier:
            if not same_request(earlier, asked):
                raise Conflict("This idempotency_key was used for another amount or direction on this wallet",
                               "idempotency_key")
            return Moved(wallet, earlier, [])
    after, entries = apply(wallet, asked, org_id, new_id(IdKind.WALLET_TRANSACTION),
                           (new_id(IdKind.LEDGER_ENTRY), new_id(IdKind.LEDGER_ENTRY)), at)
    await uow.wallets.record(after, entries)
    await record_webhooks(uow.webhooks, org_id, wallet_change(WalletMovement(after, tuple(entries))), at)
    return Moved(after, entries, await fire_balance_alerts(uow, after, org_id, at))


async def pay_from_wallets(uow: UnitOfWork, invoices: Sequence[Invoice], org_id: str,
                           at: datetime) -> WalletFirst:
    """Wallet first (docs/wallets.md), the one call the finalize paths make, inside their transaction. Each
    finalized collection invoice whose customer has a wallet in its currency is paid from the wallet's
    available balance, up to its total, by one `usage` debit referencing it under the key `invoice:<id>`:
    in the finalize's own transaction, so a kill -9 undoes both or neither, and applied once whatever is
    tried again. An invoice paid in full becomes `paid` (its `provider_invoice_id` is the ledger
    transaction, with the `invoice.paid` webhook); what a wallet paid in part is in the ledger, for
    collection to charge only the rest."""
    paying = await uow.wallets.paying_wallets([i.id for i in invoices])
    settled: dict[str, Invoice] = {}
    partly: dict[str, Invoice] = {}
    fired: list[AlertFiring] = []
    for invoice in invoices:
        wallet = paying.get(invoice.id)
        payment = invoice_payment(wallet, invoice.id, invoice.total) if wallet else None
        if wallet is None or payment is None or await _already_paid(uow.wallets, wallet, invoice):
            continue
        moved = await move_locked(uow, wallet, payment, org_id, at)
        after, entries = moved.wallet, moved.entries
        fired += moved.alerts_fired
        paying.update({i: after for i, w in paying.items() if w.id == after.id})  # one customer's invoices
        if payment.amount == invoice.total and (paid := transition(invoice, InvoiceStatus.PAID, at,
                                                                   entries[0].transaction_id)):
            await uow.invoices.save_status(paid)
            settled[invoice.id] = paid
        elif payment.amount < invoice.total:  # in part: the invoice owes the rest, all that collection charges
            partly[invoice.id] = replace(invoice, amount_paid=payment.amount)
            await uow.invoices.save_status(partly[invoice.id], at)
    await record_webhooks(uow.webhooks, org_id, [c for i in settled.values() for c in invoice_status_change(i)], at)
    return WalletFirst([settled.get(i.id) or partly.get(i.id) or i for i in invoices], fired)


async def _already_paid(store: WalletStore, wallet: Wallet, invoice: Invoice) -> bool:
    """Whether the wallet paid this invoice before (then it never pays it again, whatever its balance)."""
    return bool(await store.transaction_by_key(wallet.id, invoice_key(invoice.id)))


@dataclass(frozen=True)
class Wallets:
    unit_of_work: UnitOfWorkFactory
    clock: Clock
    org_id: str
    alerts_fired: Callable[[Sequence[AlertFiring]], None] = lambda _: None  # once committed: metrics

    async def get_or_create(self, mode: Mode, customer: str, currency: str) -> tuple[Wallet, bool]:
        """The customer's wallet in `currency` (customer by id or external_id), and whether it is new."""
        code = check_currency(currency)
        async with self.unit_of_work() as uow:
            customer_id = await self._customer(uow.wallets, mode, customer)
            now = self.clock.now()
            fresh = Wallet(new_id(IdKind.WALLET), mode, customer_id, code, Decimal(0), Decimal(0), Decimal(0),
                           now, now)
            wallet = await uow.wallets.add_wallet(fresh)
            await uow.commit()
        return wallet, wallet.id == fresh.id

    async def wallet(self, mode: Mode, wallet_id: str) -> Wallet:
        async with self.unit_of_work() as uow:
            return await self._wallet(uow.wallets, mode, wallet_id)

    async def wallets(self, mode: Mode, customer: str | None, limit: int,
                      starting_after: str | None) -> tuple[list[Wallet], bool]:
        async with self.unit_of_work() as uow:
            customer_id = await self._customer(uow.wallets, mode, customer) if customer is not None else None
            return await uow.wallets.wallets(mode, customer_id, limit, starting_after)

    async def move(self, mode: Mode, wallet_id: str, direction: Direction,
                   asked: MovementAsked) -> tuple[Wallet, list[LedgerEntry]]:
        async with self.unit_of_work() as uow:
            wallet = await self._wallet(uow.wallets, mode, wallet_id, lock=True)
            checked = movement(wallet, direction, asked.amount, asked.currency, asked.entry_type, asked.description,
                               asked.reference_type, asked.reference_id, asked.idempotency_key)
            moved = await move_locked(uow, wallet, checked, self.org_id, self.clock.now())
            await uow.commit()
        self.alerts_fired(moved.alerts_fired)
        return moved.wallet, moved.entries

    async def allow_overdraft(self, wallet_id: str, limit: str) -> Wallet:
        """Ops: let the wallet's balance go down to `-limit` ("0" takes the overdraft away). The wallet is
        found by id in either mode (ids are unique across modes)."""
        async with self.unit_of_work() as uow:
            for mode in Mode:
                if (wallet := await uow.wallets.wallet(mode, wallet_id, lock=True)) is not None:
                    allowed = replace(wallet, updated_at=self.clock.now(), overdraft_limit=parse_amount(
                        limit, wallet.currency, param="limit", allow_zero=True))
                    await uow.wallets.allow_overdraft(allowed)
                    await uow.commit()
                    return allowed
        raise NotFound("wallet", wallet_id)

    async def transactions(self, mode: Mode, wallet_id: str, limit: int,
                           offset: int) -> tuple[list[LedgerEntry], int]:
        async with self.unit_of_work() as uow:
            await self._wallet(uow.wallets, mode, wallet_id)
            return await uow.wallets.entries(mode, wallet_id, limit, offset)

    @staticmethod
    async def _customer(store: WalletStore, mode: Mode, reference: str) -> str:
        found = await store.customer_id_of(mode, reference)
        if found is None:
            raise NotFound("customer", reference, "customer_id")
        return found

    @staticmethod
    async def _wallet(store: WalletStore, mode: Mode, wallet_id: str, *, lock: bool = False) -> Wallet:
        found = await store.wallet(mode, wallet_id, lock=lock)
        if found is None:
            raise NotFound("wallet", wallet_id)
        return found
