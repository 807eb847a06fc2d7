"""The ports of collection (docs/payments.md): the payment providers, and the payment tables inside the same
unit of work as the invoices and the webhook outbox, so that an outcome, the invoice it changes and the
webhook events reporting it are written together or not at all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from meterflow.application.ports.unit_of_work import CollectionQueue, UnitOfWork
from meterflow.domain.modes import Mode
from meterflow.domain.payments import (
    Claim,
    PaymentMethod,
    Provider,
    ProviderNotice,
    ProviderOutcome,
    Setup,
    Transaction,
)
from meterflow.domain.payout_accounts import PayoutAccount


class PaymentProvider(Protocol):
    """One provider's API. `charge` and `verify` raise Unavailable when the outcome is unknown (timeout,
    lost connection, 5xx): the caller verifies the reference later, never charges anew. FieldError naming
    `provider` when the mode has no key, `currency` or `amount` when the amount cannot be sent exactly."""

    provider: Provider

    def configured(self, mode: Mode) -> bool: ...

    async def charge(self, mode: Mode, token: str, email: str, amount: Decimal, currency: str,
                     reference: str) -> ProviderOutcome: ...

    async def verify(self, mode: Mode, reference: str) -> ProviderOutcome: ...

    async def start_checkout(self, mode: Mode, email: str, amount: Decimal, currency: str, reference: str,
                             callback_url: str | None) -> str:
        """The hosted checkout's URL for the customer to open."""
        ...

    def webhook_mode(self, headers: Mapping[str, str], body: bytes) -> Mode | None:
        """The mode whose secret verifies this webhook's signature (headers by lower-case name); None: forged."""
        ...

    def webhook_notice(self, payload: Any) -> ProviderNotice | None: ...


Providers = Mapping[Provider, PaymentProvider]


class PaymentStore(CollectionQueue, Protocol):
    """Payment methods, attempts (transactions), the collection queue, provider events seen, and setups."""

    async def customer_exists(self, mode: Mode, customer_id: str) -> bool: ...

    async def plan_type_of(self, mode: Mode, invoice_id: str) -> str | None: ...

    async def add_method(self, method: PaymentMethod) -> None:
        """Saved; when it is the default, the customer's other methods stop being it."""
        ...

    async def methods(self, mode: Mode, customer_id: str) -> list[PaymentMethod]: ...

    async def method(self, mode: Mode, method_id: str, *, include_deleted: bool = False) -> PaymentMethod | None: ...

    async def default_method(self, mode: Mode, customer_id: str) -> PaymentMethod | None: ...

    async def make_default(self, method: PaymentMethod, at: datetime) -> None: ...

    async def delete_method(self, method: PaymentMethod, at: datetime) -> None: ...

    async def add_transaction(self, transaction: Transaction) -> None: ...

    async def save_transaction(self, transaction: Transaction) -> None: ...

    async def transactions(self, mode: Mode, invoice_id: str) -> list[Transaction]:
        """The invoice's attempts, first to last."""
        ...

    async def transaction_by_reference(self, reference: str) -> Transaction | None: ...

    async def schedule(self, mode: Mode, invoice_id: str, due_at: datetime, method_id: str | None,
                       at: datetime) -> None:
        """The invoice has collection work due at `due_at` (created, or moved there; any claim is dropped)."""
        ...

    async def finish(self, invoice_id: str) -> None:
        """No more collection work for the invoice (paid, uncollectible, void, nothing to charge)."""
        ...

    async def claim(self, now: datetime, limit: int, lease_until: datetime, token: str) -> list[Claim]: ...

    async def oldest_due(self, now: datetime) -> datetime | None: ...

    async def note_event(self, provider: Provider, event_id: str, mode: Mode, at: datetime) -> bool:
        """True the first time a provider's event id is noted; False for a repeat."""
        ...

    async def seen_event(self, provider: Provider, event_id: str) -> bool: ...

    async def add_setup(self, setup: Setup) -> None: ...

    async def setup(self, reference: str, *, lock: bool = False) -> Setup | None: ...

    async def complete_setup(self, reference: str, method_id: str) -> None: ...


class PaymentUnitOfWork(UnitOfWork, Protocol):
    @property
    def payments(self) -> PaymentStore: ...


PaymentUnitOfWorkFactory = Callable[[], PaymentUnitOfWork]


class PayoutAccountStore(Protocol):
    async def customer_id_of(self, mode: Mode, reference: str) -> str | None: ...

    async def save(self, account: PayoutAccount, *, new: bool) -> PayoutAccount:
        """Insert (`new`) or overwrite the account; a default one unsets the customer's other default in
        its currency; the first account of a customer in a currency becomes its default. Answers the
        account as stored."""
        ...

    async def account(self, mode: Mode, customer_id: str, account_id: str) -> PayoutAccount | None: ...

    async def accounts(self, mode: Mode, customer_id: str) -> list[PayoutAccount]: ...

    async def delete(self, mode: Mode, customer_id: str, account_id: str, at: datetime) -> bool: ...
