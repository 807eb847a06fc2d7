"""Payout accounts (docs/wallets.md, "Payout accounts"): create, read, update and delete a customer's
accounts, as Monigo's `PayoutAccounts` client calls them. The rules are the domain's
(domain/payout_accounts.py); making an account the default unsets the customer's other default in that
currency in the same write (the store's job, under its unique index)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meterflow.application.ports.payments import PayoutAccountStore
from meterflow.clock import Clock
from meterflow.domain.errors import NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.payout_accounts import PayoutAccount, PayoutMethod, checked, updated
from meterflow.domain.wallets import check_currency


@dataclass(frozen=True)
class PayoutAccounts:
    store: PayoutAccountStore
    clock: Clock

    async def create(self, mode: Mode, customer: str, fields: dict[str, Any]) -> PayoutAccount:
        customer_id, now = await self._customer(mode, customer), self.clock.now()
        account = PayoutAccount(new_id(IdKind.PAYOUT_ACCOUNT), mode, customer_id, fields["account_name"],
                                PayoutMethod(fields["payout_method"]), check_currency(fields.get("currency") or "NGN"),
                                bool(fields.get("is_default")), fields.get("metadata") or {}, now, now,
                                fields.get("bank_name") or None, fields.get("bank_code") or None,
                                fields.get("account_number") or None, fields.get("mobile_money_number") or None)
        return await self.store.save(checked(account), new=True)

    async def account(self, mode: Mode, customer: str, account_id: str) -> PayoutAccount:
        found = await self.store.account(mode, await self._customer(mode, customer), account_id)
        if found is None:
            raise NotFound("payout_account", account_id, "account_id")
        return found

    async def accounts(self, mode: Mode, customer: str) -> list[PayoutAccount]:
        return await self.store.accounts(mode, await self._customer(mode, customer))

    async def update(self, mode: Mode, customer: str, account_id: str, changes: dict[str, Any]) -> PayoutAccount:
        """Only the fields given change; empty text and `false` count as not given (the Go client leaves
        out what the caller did not set)."""
        account = await self.account(mode, customer, account_id)
        given = {name: value for name, value in changes.items() if value not in (None, "", False)}
        if "currency" in given:
            given["currency"] = check_currency(given["currency"])
        if "payout_method" in given:
            given["payout_method"] = PayoutMethod(given["payout_method"])
        return await self.store.save(updated(account, given, self.clock.now()), new=False)

    async def delete(self, mode: Mode, customer: str, account_id: str) -> None:
        if not await self.store.delete(mode, await self._customer(mode, customer), account_id, self.clock.now()):
            raise NotFound("payout_account", account_id, "account_id")

    async def _customer(self, mode: Mode, reference: str) -> str:
        found = await self.store.customer_id_of(mode, reference)
        if found is None:
            raise NotFound("customer", reference, "customer_id")
        return found


