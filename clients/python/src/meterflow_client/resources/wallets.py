"""`/v1/wallets`: prepaid balances on a double-entry ledger, one wallet per customer and currency. Every
credit or debit is one ledger transaction of two entries (the wallet's and the organisation's
counter-account's), each with the balance before and after. `amount` is a `Decimal` (sent as decimal
text, exact to the currency's minor unit; never a float). The same `idempotency_key` applies a movement
once: a repeat answers the transaction already made. A debit beyond the available balance is refused
(`ConflictError`). Finalized collection invoices are paid from the customer's wallet first."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from meterflow_client._models import APIObject
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query


class Wallet(APIObject):
    id: str
    customer_id: str
    org_id: str
    currency: str
    balance: Decimal
    reserved_balance: Decimal
    is_test: bool
    created_at: datetime
    updated_at: datetime


class LedgerEntry(APIObject):
    """One side of a ledger transaction: `wallet_id` is set on the wallet's side, None on the
    organisation's counter-account side."""

    id: str
    org_id: str
    transaction_id: str
    wallet_id: str | None
    account_type: str
    account_id: str
    direction: str
    amount: Decimal
    currency: str
    description: str
    balance_before: Decimal
    balance_after: Decimal
    entry_type: str
    reference_type: str
    reference_id: str
    idempotency_key: str
    metadata: dict[str, Any]
    created_at: datetime


class WalletMovement(APIObject):
    """A credit's or debit's answer: the wallet as it now stands and the transaction's two entries."""

    wallet: Wallet
    ledger_entries: list[LedgerEntry]


class VirtualAccount(APIObject):
    """A bank account number that credits the wallet (no provider offers them on this server yet)."""


class WalletDetail(APIObject):
    wallet: Wallet
    virtual_accounts: list[VirtualAccount]


class WalletTransactions(APIObject):
    """The wallet's side of each of its transactions, newest first; `total` counts them all."""

    transactions: list[LedgerEntry]
    total: int
    limit: int
    offset: int


class VirtualAccountList(APIObject):
    virtual_accounts: list[VirtualAccount]
    count: int


def _movement(wallet_id: str, amount: Decimal, currency: str | None, description: str | None,
              entry_type: str | None, reference_type: str | None, reference_id: str | None,
              idempotency_key: str | None) -> Call[WalletMovement]:
    """The key goes in the body, where the ledger keeps it (the guard that applies the movement once), and
    as the request's Idempotency-Key, so that a retried request answers the same."""
    body = given(amount=amount, currency=currency, description=description, entry_type=entry_type,
                 reference_type=reference_type, reference_id=reference_id, idempotency_key=idempotency_key)
    return Call(whole(WalletMovement), path={"wallet_id": wallet_id}, body=body, idempotency_key=idempotency_key)


class Wallets(Resource[S]):
    @operation("POST", "/v1/wallets")
    def create(*, customer_id: str, currency: str, idempotency_key: str | None = None) -> Call[Wallet]:
        """The customer's wallet in `currency` (three letters), created at a zero balance, or the one already
        there. `customer_id`: the customer's id or external id."""
        return Call(one("wallet", Wallet), body={"customer_id": customer_id, "currency": currency},
                    idempotency_key=idempotency_key)

    @paged("/v1/wallets", "wallets")
    def list(*, customer_id: str | None = None, limit: int | None = None) -> Cursor[Wallet]:
        return Cursor(Wallet, query(customer_id=customer_id, limit=limit))

    @paged("/v1/customers/{customer_id}/wallets", "wallets")
    def list_for_customer(customer_id: str, *, limit: int | None = None) -> Cursor[Wallet]:
        return Cursor(Wallet, query(limit=limit), {"customer_id": customer_id})

    @operation("GET", "/v1/wallets/{wallet_id}")
    def get(wallet_id: str) -> Call[WalletDetail]:
        return Call(whole(WalletDetail), path={"wallet_id": wallet_id})

    @operation("POST", "/v1/wallets/{wallet_id}/credit")
    def credit(wallet_id: str, *, amount: Decimal, currency: str | None = None, description: str | None = None,
               entry_type: str | None = None, reference_type: str | None = None, reference_id: str | None = None,
               idempotency_key: str | None = None) -> Call[WalletMovement]:
        """Add `amount` to the balance (`currency`, if given, must be the wallet's)."""
        return _movement(wallet_id, amount, currency, description, entry_type, reference_type, reference_id,
                         idempotency_key)

    @operation("POST", "/v1/wallets/{wallet_id}/debit")
    def debit(wallet_id: str, *, amount: Decimal, currency: str | None = None, description: str | None = None,
              entry_type: str | None = None, reference_type: str | None = None, reference_id: str | None = None,
              idempotency_key: str | None = None) -> Call[WalletMovement]:
        """Take `amount` from the available balance; more than it holds raises `ConflictError`."""
        return _movement(wallet_id, amount, currency, description, entry_type, reference_type, reference_id,
                         idempotency_key)

    @operation("GET", "/v1/wallets/{wallet_id}/transactions")
    def transactions(wallet_id: str, *, limit: int | None = None,
                     offset: int | None = None) -> Call[WalletTransactions]:
        return Call(whole(WalletTransactions), path={"wallet_id": wallet_id}, params=query(limit=limit, offset=offset))

    @operation("POST", "/v1/wallets/{wallet_id}/virtual-accounts")
    def create_virtual_account(wallet_id: str, *, idempotency_key: str | None = None) -> Call[VirtualAccount]:
        """Refused (`InvalidRequestError` naming `provider`) while no virtual-account provider is offered."""
        return Call(one("virtual_account", VirtualAccount), path={"wallet_id": wallet_id},
                    idempotency_key=idempotency_key)

    @operation("GET", "/v1/wallets/{wallet_id}/virtual-accounts")
    def virtual_accounts(wallet_id: str) -> Call[VirtualAccountList]:
        return Call(whole(VirtualAccountList), path={"wallet_id": wallet_id})
