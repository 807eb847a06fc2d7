"""Wallets (docs/wallets.md): the calls of Monigo's `Wallets` client, answered in the shapes it decodes.
Thin: each route parses, calls the use case (application/wallets.py) and renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import StringConstraints

from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.domain.errors import FieldError
from meterflow.domain.inputs import DescriptionText, IdText, NameText, OptionalText
from meterflow.domain.modes import Mode
from meterflow.domain.presentation import ledger_entry_json, wallet_json
from meterflow.domain.wallets import Direction, LedgerEntry, Wallet
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.schemas import _Body, page_json

router = APIRouter(prefix="/v1", route_class=checked_route())


# Decimal text (`"100.50"`): whether it is exact in the wallet's currency is the domain's check.
AmountText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}(\.[0-9]{1,18})?$")]
CurrencyText = Annotated[str, StringConstraints(pattern="^([A-Za-z]{3})?$")]  # empty: the wallet's


class WalletIn(_Body):
    customer_id: NameText  # an id or an external_id
    currency: CurrencyText


class MovementIn(_Body):
    """`provider_id` is accepted and ignored."""

    amount: AmountText
    currency: CurrencyText = ""
    description: DescriptionText = ""
    entry_type: OptionalText = ""
    reference_type: OptionalText = ""
    reference_id: OptionalText = ""
    idempotency_key: OptionalText = ""


def wallets(ctx: GatewayContext = Depends(context)) -> Wallets:
    return ctx.use_cases.wallets


def org_id(ctx: GatewayContext = Depends(context)) -> str:
    return ctx.settings.org_id


def _listing(items: list[Wallet], more: bool, org: str) -> dict[str, Any]:
    return page_json("wallets", [wallet_json(w, org) for w in items], more)


def _moved(wallet: Wallet, entries: list[LedgerEntry], org: str) -> dict[str, Any]:
    return {"wallet": wallet_json(wallet, org), "ledger_entries": [ledger_entry_json(e, org) for e in entries]}


@router.post("/wallets", status_code=201,
             responses={200: {"description": "The customer's existing wallet in that currency"}})
async def get_or_create(body: WalletIn, response: Response, mode: Mode = Depends(authenticated_mode),
                        use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    """201 with a new wallet, 200 with the customer's existing one in that currency."""
    wallet, created = await use_case.get_or_create(mode, body.customer_id, body.currency)
    response.status_code = 201 if created else 200
    return {"wallet": wallet_json(wallet, org)}


@router.get("/wallets")
async def list_wallets(customer_id: NameText | None = None, limit: int = Query(100, ge=1, le=1_000),
                       starting_after: IdText | None = None, mode: Mode = Depends(authenticated_mode),
                       use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    return _listing(*await use_case.wallets(mode, customer_id, limit, starting_after), org)


@router.get("/customers/{customer_id}/wallets")
async def customer_wallets(customer_id: NameText, limit: int = Query(100, ge=1, le=1_000),
                           starting_after: IdText | None = None, mode: Mode = Depends(authenticated_mode),
                           use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    return _listing(*await use_case.wallets(mode, customer_id, limit, starting_after), org)


@router.get("/wallets/{wallet_id}")
async def get_wallet(wallet_id: IdText, mode: Mode = Depends(authenticated_mode),
                     use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    return {"wallet": wallet_json(await use_case.wallet(mode, wallet_id), org), "virtual_accounts": []}


@router.post("/wallets/{wallet_id}/credit")
async def credit(wallet_id: IdText, body: MovementIn, mode: Mode = Depends(authenticated_mode),
                 use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    return _moved(*await use_case.move(mode, wallet_id, Direction.CREDIT, MovementAsked(**body.model_dump())), org)


@router.post("/wallets/{wallet_id}/debit")
async def debit(wallet_id: IdText, body: MovementIn, mode: Mode = Depends(authenticated_mode),
                use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    """409 when the wallet cannot pay it (no overdraft allowed), naming the balance available."""
    return _moved(*await use_case.move(mode, wallet_id, Direction.DEBIT, MovementAsked(**body.model_dump())), org)


@router.get("/wallets/{wallet_id}/transactions")
async def transactions(wallet_id: IdText, limit: int = Query(50, ge=1, le=1_000),
                       offset: int = Query(0, ge=0, le=10_000_000), mode: Mode = Depends(authenticated_mode),
                       use_case: Wallets = Depends(wallets), org: str = Depends(org_id)) -> dict[str, Any]:
    """The wallet's side of each transaction, newest first; `total` counts them all."""
    entries, total = await use_case.transactions(mode, wallet_id, limit, offset)
    return {"transactions": [ledger_entry_json(e, org) for e in entries], "total": total, "limit": limit,
            "offset": offset}


@router.post("/wallets/{wallet_id}/virtual-accounts")
async def create_virtual_account(wallet_id: IdText, mode: Mode = Depends(authenticated_mode),
                                 use_case: Wallets = Depends(wallets)) -> dict[str, Any]:
    """No virtual-account provider is offered: an existing wallet answers 400 naming `provider`."""
    await use_case.wallet(mode, wallet_id)
    raise FieldError("provider", "no virtual-account provider is available on this server")


@router.get("/wallets/{wallet_id}/virtual-accounts")
async def list_virtual_accounts(wallet_id: IdText, mode: Mode = Depends(authenticated_mode),
                                use_case: Wallets = Depends(wallets)) -> dict[str, Any]:
    await use_case.wallet(mode, wallet_id)
    return {"virtual_accounts": [], "count": 0}
