"""`/v1/customers/{id}/payout-accounts`: where money is paid out to a customer, a bank account
(`account_number` and `bank_code`) or a mobile-money number (E.164). The first account in a currency is
its default, and a customer has one default per currency. An update never changes the destination
(`bank_code`, `mobile_money_number`): add a new account instead."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, whole
from meterflow_client._wire import given

PayoutMethod = Literal["bank_transfer", "mobile_money"]


class PayoutAccount(APIObject):
    id: str
    customer_id: str
    org_id: str
    account_name: str
    bank_name: str | None  # the fields of the other payout method are None
    bank_code: str | None
    account_number: str | None
    mobile_money_number: str | None
    payout_method: str
    currency: str
    is_default: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PayoutAccountList(APIObject):
    payout_accounts: list[PayoutAccount]
    count: int


def _account(customer_id: str, account_id: str) -> dict[str, str]:
    return {"customer_id": customer_id, "account_id": account_id}


class PayoutAccounts(Resource[S]):
    @operation("POST", "/v1/customers/{customer_id}/payout-accounts")
    def create(customer_id: str, *, account_name: str, payout_method: PayoutMethod, bank_name: str | None = None,
               bank_code: str | None = None, account_number: str | None = None,
               mobile_money_number: str | None = None, currency: str | None = None, is_default: bool | None = None,
               metadata: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Call[PayoutAccount]:
        body = given(account_name=account_name, payout_method=payout_method, bank_name=bank_name,
                     bank_code=bank_code, account_number=account_number, mobile_money_number=mobile_money_number,
                     currency=currency, is_default=is_default, metadata=metadata)
        return Call(one("payout_account", PayoutAccount), path={"customer_id": customer_id}, body=body,
                    idempotency_key=idempotency_key)

    @operation("GET", "/v1/customers/{customer_id}/payout-accounts")
    def list(customer_id: str) -> Call[PayoutAccountList]:
        return Call(whole(PayoutAccountList), path={"customer_id": customer_id})

    @operation("GET", "/v1/customers/{customer_id}/payout-accounts/{account_id}")
    def get(customer_id: str, account_id: str) -> Call[PayoutAccount]:
        return Call(one("payout_account", PayoutAccount), path=_account(customer_id, account_id))

    @operation("PUT", "/v1/customers/{customer_id}/payout-accounts/{account_id}")
    def update(customer_id: str, account_id: str, *, account_name: str | None = None,
               payout_method: PayoutMethod | None = None, bank_name: str | None = None,
               account_number: str | None = None, currency: str | None = None, is_default: bool | None = None,
               metadata: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Call[PayoutAccount]:
        """Only the fields given change (`is_default=False` changes nothing: make another one the default)."""
        body = given(account_name=account_name, payout_method=payout_method, bank_name=bank_name,
                     account_number=account_number, currency=currency, is_default=is_default, metadata=metadata)
        return Call(one("payout_account", PayoutAccount), path=_account(customer_id, account_id), body=body,
                    idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/customers/{customer_id}/payout-accounts/{account_id}")
    def delete(customer_id: str, account_id: str) -> Call[Deleted]:
        return Call(whole(Deleted), path=_account(customer_id, account_id))
