"""The ports of the billing tables and of the transaction over them.

The close use case owns its transaction (issue #9): it opens a unit of work, and reads and writes through
the stores it holds, all on one connection; the adapter behind it (adapters/unit_of_work.py) only reads,
writes and encodes. Unit tests hand in the in-memory fakes of tests/fakes.py, and the contract suites in
tests/integration check those fakes against the real adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, Self

from meterflow.domain.alerts import Alert, AlertState
from meterflow.domain.catalog import Customer, Subscription
from meterflow.domain.close_failures import CloseFailure, UnreadableSubscription
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.replay import ReplayJob, ReplayStatus
from meterflow.domain.wallets import LedgerEntry, Wallet
from meterflow.domain.webhooks import NewDelivery, WebhookEndpoint, WebhookEvent


class InvoiceStore(Protocol):
    """The invoices table with its lines. Writes are batched; the unique index on live invoices per
    (subscription, period) is the final guard, so `insert` reports which rows it really wrote."""

    async def invoice(self, mode: Mode, invoice_id: str, *, lock: bool = False) -> Invoice | None: ...

    async def live_invoices(self, keys: Sequence[tuple[str, datetime]], *,
                            lock: bool = False) -> dict[tuple[str, datetime], Invoice]: ...

    async def insert(self, invoices: Sequence[Invoice]) -> set[str]:
        """Ids of the invoices inserted (with their lines); one whose period got a live invoice first is not."""
        ...

    async def replace_drafts(self, invoices: Sequence[Invoice], at: datetime) -> None:
        """Overwrite open drafts (same id) with these figures, status and lines, as changed at `at`."""
        ...

    async def save_status(self, invoice: Invoice, at: datetime | None = None) -> None: ...


class SubscriptionStore(Protocol):
    """The subscriptions table (with each one's plan interval)."""

    async def subscription(self, mode: Mode, subscription_id: str, *, lock: bool = False) -> Subscription | None: ...

    async def add_subscription(self, subscription: Subscription) -> None: ...

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = ...) -> list[Subscription]: ...

    async def lock_customer(self, mode: Mode, customer_id: str) -> None:
        """Serialise changes to one customer's subscriptions until the unit of work ends."""

    async def lock_due(self, ended_by: datetime, limit: int, only: str | None,
                       skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        """Lock up to `limit` active subscriptions whose current period ended by `ended_by`, oldest first,
        skipping those locked by another closer and the ids in `skip`; a row that cannot be read comes
        back apart, so that one bad row never fails the others."""
        ...

    async def save_lifecycle(self, subscriptions: Sequence[Subscription]) -> None:
        """Write each one's status, current period and cancellation."""
        ...

    async def add_waiting_periods(self, subscription: Subscription, periods: Sequence[Period], at: datetime) -> None:
        """Queue ended periods of the subscription for the closer (one already queued stays as it is)."""
        ...

    async def lock_waiting(self, ended_by: datetime, limit: int, only: str | None,
                           skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        """Lock up to `limit` waiting periods that ended by `ended_by`, oldest first, each read as its
        subscription on that period; skipping, like `lock_due`, rows another closer holds and `skip`."""
        ...

    async def remove_waiting(self, closed: Sequence[Subscription]) -> None:
        """Dequeue the waiting periods (each a subscription on its period) once invoiced."""
        ...


class CloseFailureStore(Protocol):
    """Periods the closer skipped, with why: the ops listing, cleared once the period closes."""

    async def record(self, failures: Sequence[CloseFailure]) -> None: ...

    async def clear(self, subscription_ids: Collection[str]) -> None: ...

    async def listing(self, limit: int) -> list[CloseFailure]: ...


class CustomerStore(Protocol):
    async def add_customer(self, customer: Customer) -> None:
        """Raises Conflict naming `external_id` when the mode has a live customer with the same one."""
        ...

    async def delete_customer(self, mode: Mode, customer_id: str, at: datetime) -> bool:
        """Soft delete; False when there was no such customer (or another delete won)."""
        ...


class ReplayJobFinisher(Protocol):
    async def finish(self, job_id: str, status: ReplayStatus, error: str | None, now: datetime) -> ReplayJob | None:
        ...


class WebhookOutboxStore(Protocol):
    """The webhook outbox, written in the same transaction as the change an event reports."""

    async def enabled_endpoints(self, modes: Collection[Mode]) -> list[WebhookEndpoint]: ...

    async def add(self, events: Sequence[WebhookEvent], deliveries: Sequence[NewDelivery]) -> None:
        """The events and their deliveries, in batched statements; wakes the delivery workers at commit."""
        ...


class CollectionQueue(Protocol):
    """The payment outbox: invoices with collection work due, written in the same transaction as the
    finalize that makes them due, so that a finalized invoice is never forgotten nor charged unasked."""

    async def queue_finalized(self, invoices: Sequence[Invoice], at: datetime) -> None:
        """Queue, due at `at`, each of these invoices that is finalized, of a `collection` plan, with a total
        above zero and a customer with a default payment method (an invoice already queued stays as it is)."""
        ...


class WalletStore(Protocol):
    """The wallets and their ledger (docs/wallets.md). A movement is read-lock-write: `wallet(lock=True)`
    holds the wallet's row until the unit of work ends, so two debits of one wallet never both read the
    same balance; the ledger's unique (wallet, idempotency key) is the final guard against applying twice."""

    async def customer_id_of(self, mode: Mode, reference: str) -> str | None:
        """The id of the live customer of this mode whose id or `external_id` is `reference`."""
        ...

    async def add_wallet(self, wallet: Wallet) -> Wallet:
        """The customer's wallet in that currency: `wallet` if it was inserted, else the one already there."""
        ...

    async def wallet(self, mode: Mode, wallet_id: str, *, lock: bool = False) -> Wallet | None: ...

    async def wallet_of(self, mode: Mode, customer_id: str, currency: str, *, lock: bool = False) -> Wallet | None: ...

    async def wallets(self, mode: Mode, customer_id: str | None, limit: int,
                      starting_after: str | None) -> tuple[list[Wallet], bool]: ...

    async def allow_overdraft(self, wallet: Wallet) -> None:
        """Write the wallet's `overdraft_limit` (ops only)."""
        ...

    async def paying_wallets(self, invoice_ids: Sequence[str]) -> dict[str, Wallet]:
        """Of these finalized invoices, those of a `collection` plan with a total above zero whose customer
        has a wallet in the invoice's currency: invoice id → that wallet, locked (in wallet id order, so two
        closers never wait on each other in a cycle)."""
        ...

    async def transaction_by_key(self, wallet_id: str, idempotency_key: str) -> list[LedgerEntry]:
        """The entries of the wallet's transaction recorded under that key (empty: none)."""
        ...

    async def record(self, wallet: Wallet, entries: Sequence[LedgerEntry]) -> None:
        """Write the wallet's new balance and the transaction's entries."""
        ...

    async def entries(self, mode: Mode, wallet_id: str, limit: int, offset: int) -> tuple[list[LedgerEntry], int]:
        """The wallet's own entries, newest first, and how many it has in all."""
        ...


CustomerKey = tuple[Mode, str]  # a customer's id in its mode


class AlertStateStore(Protocol):
    """Enabled alerts as their evaluations read them, and the states of their thresholds."""

    async def watching(self, customers: Collection[CustomerKey] | None) -> list[tuple[Alert, list[Subscription]]]:
        """Each enabled usage or cost alert with the active subscriptions it watches (each of a plan's, for a
        plan scope), of these customers only (of every customer with None); alerts watching none of them
        are left out."""
        ...

    async def balance_alerts(self, mode: Mode, customer_id: str) -> list[Alert]:
        """The customer's enabled `wallet_balance_dropped` alerts."""
        ...

    async def fire(self, states: Sequence[AlertState]) -> list[AlertState]:
        """Insert the states; answers those inserted (one already there under its key is not)."""
        ...

    async def rearm(self, alert_id: str, subject_id: str, threshold_indexes: Sequence[int], at: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction over the stores: nothing is kept unless `commit` is called, so an error or
    a kill -9 leaves no invoice without its advanced subscription, nor the reverse."""

    # Read-only, so that an adapter may declare its own repository classes for them.
    @property
    def invoices(self) -> InvoiceStore: ...

    @property
    def subscriptions(self) -> SubscriptionStore: ...

    @property
    def close_failures(self) -> CloseFailureStore: ...

    @property
    def customers(self) -> CustomerStore: ...

    @property
    def replay_jobs(self) -> ReplayJobFinisher: ...

    @property
    def webhooks(self) -> WebhookOutboxStore: ...

    @property
    def payments(self) -> CollectionQueue: ...

    @property
    def wallets(self) -> WalletStore: ...

    @property
    def alerts(self) -> AlertStateStore: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def commit(self) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: an error inside rolls back only what was written inside it."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
