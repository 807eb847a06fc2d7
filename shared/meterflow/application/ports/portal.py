"""The ports of the customer portal: its tokens, and what a customer's pages read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from meterflow.application.ports.usage import CatalogReader
from meterflow.domain.catalog import Customer, Subscription
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.portal_tokens import PortalToken
from meterflow.domain.wallets import LedgerEntry, Wallet


class PortalCatalog(CatalogReader, Protocol):
    async def customer(self, mode: Mode, customer_id: str) -> Customer | None: ...

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = ...) -> list[Subscription]: ...


class CustomerInvoices(Protocol):
    async def of_customer(self, mode: Mode, customer_id: str, limit: int) -> list[Invoice]:
        """The customer's invoices, newest first."""
        ...

    async def invoice(self, mode: Mode, invoice_id: str) -> Invoice | None: ...


class CustomerWallets(Protocol):
    async def wallets(self, mode: Mode, customer_id: str | None, limit: int,
                      starting_after: str | None) -> tuple[list[Wallet], bool]: ...

    async def entries(self, mode: Mode, wallet_id: str, limit: int, offset: int) -> tuple[list[LedgerEntry], int]: ...


class PortalTokenStore(Protocol):
    async def customer_id_of(self, mode: Mode, reference: str) -> str | None:
        """The id of the live customer of this mode whose id or `external_id` is `reference`."""
        ...

    async def add(self, token: PortalToken) -> None: ...

    async def tokens(self, mode: Mode, customer_id: str | None, limit: int,
                     starting_after: str | None) -> tuple[list[PortalToken], bool]: ...

    async def revoke(self, mode: Mode, token_id: str, at: datetime) -> PortalToken | None: ...

    async def by_hash(self, token_hash: str) -> PortalToken | None: ...
