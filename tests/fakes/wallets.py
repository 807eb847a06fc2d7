"""The in-memory wallet store, for unit tests of the wallet use cases. It keeps the guards the Postgres
adapter's tables keep (tests/integration/test_wallet_store_contract.py runs the same contract on both):
one wallet per (mode, customer, currency), one transaction per (wallet, idempotency key), no balance
below `reserved_balance - overdraft_limit`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from meterflow.domain.catalog import Customer, Subscription
from meterflow.domain.errors import Conflict
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import AccountType, LedgerEntry, Wallet


@dataclass
class WalletTables:
    wallets: dict[str, Wallet] = field(default_factory=dict)
    entries: list[LedgerEntry] = field(default_factory=list)


class BillingTables(Protocol):
    customers: dict[str, Customer]
    invoices: dict[str, Invoice]
    subscriptions: dict[str, Subscription]
    wallets: WalletTables
    plan_types: dict[str, str]  # plan id → plan_type (absent: collection)


class FakeWallets:
    """Reads the billing tables through `billing` at each call: a savepoint rolled back swaps their dicts."""

    def __init__(self, billing: BillingTables) -> None:
        self._billing, self._tables = billing, billing.wallets

    @property
    def _customers(self) -> dict[str, Customer]:
        return self._billing.customers

    async def allow_overdraft(self, wallet: Wallet) -> None:
        self._tables.wallets[wallet.id] = wallet

    async def paying_wallets(self, invoice_ids: Sequence[str]) -> dict[str, Wallet]:
        paying: dict[str, Wallet] = {}
        for invoice_id in invoice_ids:
            invoice = self._billing.invoices.get(invoice_id)
            if invoice is None or invoice.status is not InvoiceStatus.FINALIZED or invoice.total <= Decimal(0):
                continue
            subscription = self._billing.subscriptions.get(invoice.subscription_id)
            if subscription is None or self._billing.plan_types.get(subscription.plan_id) == "payout":
                continue
            wallet = await self.wallet_of(invoice.mode, invoice.customer_id, invoice.currency)
            if wallet is not None:
                paying[invoice_id] = wallet
        return paying

    async def customer_id_of(self, mode: Mode, reference: str) -> str | None:
        found = [c for c in self._customers.values() if c.mode is mode and reference in (c.id, c.external_id)]
        return min(found, key=lambda c: c.id != reference).id if found else None

    async def add_wallet(self, wallet: Wallet) -> Wallet:
        existing = await self.wallet_of(wallet.mode, wallet.customer_id, wallet.currency)
        if existing is not None:
            return existing
        self._tables.wallets[wallet.id] = wallet
        return wallet

    async def wallet(self, mode: Mode, wallet_id: str, *, lock: bool = False) -> Wallet | None:
        found = self._tables.wallets.get(wallet_id)
        return found if found is not None and found.mode is mode else None

    async def wallet_of(self, mode: Mode, customer_id: str, currency: str, *, lock: bool = False) -> Wallet | None:
        return next((w for w in self._tables.wallets.values()
                     if (w.mode, w.customer_id, w.currency) == (mode, customer_id, currency)), None)

    async def wallets(self, mode: Mode, customer_id: str | None, limit: int,
                      starting_after: str | None) -> tuple[list[Wallet], bool]:
        mine = sorted((w for w in self._tables.wallets.values()
                       if w.mode is mode and customer_id in (None, w.customer_id)),
                      key=lambda w: (w.created_at, w.id), reverse=True)
        if starting_after is not None:
            mine = mine[[w.id for w in mine].index(starting_after) + 1:]
        return mine[:limit], len(mine) > limit

    async def transaction_by_key(self, wallet_id: str, idempotency_key: str) -> list[LedgerEntry]:
        keyed = [e for e in self._tables.entries if e.wallet_id == wallet_id and e.idempotency_key == idempotency_key
                 and e.account_type is AccountType.CUSTOMER_WALLET]
        if not keyed:
            return []
        return sorted((e for e in self._tables.entries if e.transaction_id == keyed[0].transaction_id),
                      key=lambda e: e.account_type is AccountType.ORGANISATION)

    async def record(self, wallet: Wallet, entries: Sequence[LedgerEntry]) -> None:
        if wallet.balance < wallet.reserved_balance - wallet.overdraft_limit:
            raise Conflict("Insufficient wallet balance", "amount")
        key = entries[0].idempotency_key
        if key is not None and await self.transaction_by_key(wallet.id, key):
            raise Conflict("This idempotency_key was just applied by another request", "idempotency_key")
        self._tables.wallets[wallet.id] = wallet
        self._tables.entries.extend(entries)

    async def entries(self, mode: Mode, wallet_id: str, limit: int, offset: int) -> tuple[list[LedgerEntry], int]:
        mine = [e for e in reversed(self._tables.entries)
                if e.mode is mode and e.wallet_id == wallet_id and e.account_type is AccountType.CUSTOMER_WALLET]
        return mine[offset:offset + limit], len(mine)
