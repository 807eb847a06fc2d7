"""Payout accounts (docs/wallets.md, "Payout accounts"): the calls of Monigo's `PayoutAccounts` client.
Thin: each route parses, calls the use case (application/payout_accounts.py) and renders."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import StrictBool

from meterflow.application.payout_accounts import PayoutAccounts
from meterflow.domain.inputs import IdText, Metadata, NameText, OptionalText
from meterflow.domain.modes import Mode
from meterflow.domain.payout_accounts import PayoutAccount, PayoutMethod
from meterflow.domain.presentation import payout_account_json
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.schemas import _Body

router = APIRouter(prefix="/v1/customers/{customer_id}/payout-accounts", route_class=checked_route())


class PayoutAccountIn(_Body):
    account_name: NameText
    payout_method: PayoutMethod
    bank_name: OptionalText = ""
    bank_code: OptionalText = ""
    account_number: OptionalText = ""
    mobile_money_number: OptionalText = ""
    currency: OptionalText = ""  # NGN when not given, as Monigo does
    is_default: StrictBool = False
    metadata: Metadata | None = None


class PayoutAccountUpdate(_Body):
    """No `bank_code` or `mobile_money_number`: a new destination is a new account."""

    account_name: OptionalText = ""
    payout_method: PayoutMethod | None = None
    bank_name: OptionalText = ""
    account_number: OptionalText = ""
    currency: OptionalText = ""
    is_default: StrictBool = False
    metadata: Metadata | None = None


def payout_accounts(ctx: GatewayContext = Depends(context)) -> PayoutAccounts:
    return ctx.use_cases.payout_accounts


def org_id(ctx: GatewayContext = Depends(context)) -> str:
    return ctx.settings.org_id


def _one(account: PayoutAccount, org: str) -> dict[str, Any]:
    return {"payout_account": payout_account_json(account, org)}


@router.post("", status_code=201)
async def create(customer_id: NameText, body: PayoutAccountIn, mode: Mode = Depends(authenticated_mode),
                 use_case: PayoutAccounts = Depends(payout_accounts), org: str = Depends(org_id)) -> dict[str, Any]:
    """The first account of a customer in a currency is its default."""
    return _one(await use_case.create(mode, customer_id, body.model_dump()), org)


@router.get("")
async def list_accounts(customer_id: NameText, mode: Mode = Depends(authenticated_mode),
                        use_case: PayoutAccounts = Depends(payout_accounts),
                        org: str = Depends(org_id)) -> dict[str, Any]:
    items = await use_case.accounts(mode, customer_id)
    return {"payout_accounts": [payout_account_json(a, org) for a in items], "count": len(items)}


@router.get("/{account_id}")
async def get_account(customer_id: NameText, account_id: IdText, mode: Mode = Depends(authenticated_mode),
                      use_case: PayoutAccounts = Depends(payout_accounts),
                      org: str = Depends(org_id)) -> dict[str, Any]:
    return _one(await use_case.account(mode, customer_id, account_id), org)


@router.put("/{account_id}")
async def update_account(customer_id: NameText, account_id: IdText, body: PayoutAccountUpdate,
                         mode: Mode = Depends(authenticated_mode), use_case: PayoutAccounts = Depends(payout_accounts),
                         org: str = Depends(org_id)) -> dict[str, Any]:
    return _one(await use_case.update(mode, customer_id, account_id, body.model_dump()), org)


@router.delete("/{account_id}")
async def delete_account(customer_id: NameText, account_id: IdText, mode: Mode = Depends(authenticated_mode),
                         use_case: PayoutAccounts = Depends(payout_accounts)) -> dict[str, str]:
    await use_case.delete(mode, customer_id, account_id)
    return {"message": "Payout account deleted"}
