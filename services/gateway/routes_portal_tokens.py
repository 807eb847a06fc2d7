"""Portal tokens (docs/portal.md): the calls of Monigo's `PortalTokens` client. Thin: each route parses,
calls the use case (application/portal_tokens.py) and renders."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from meterflow.application.portal_tokens import PortalTokens
from meterflow.domain.inputs import IdText, NameText, OptionalText, Timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.presentation import portal_token_json
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.schemas import _Body, page_json

router = APIRouter(prefix="/v1/portal/tokens", route_class=checked_route())


class PortalTokenIn(_Body):
    customer_external_id: NameText  # the customer's external_id (its id is accepted too)
    label: OptionalText = ""
    expires_at: Timestamp | None = None  # never, when not given


def portal_tokens(ctx: GatewayContext = Depends(context)) -> PortalTokens:
    return ctx.pages.portal_tokens


def links(ctx: GatewayContext = Depends(context)) -> tuple[str, str]:
    """The organisation id and the public address every portal link starts with."""
    return ctx.settings.org_id, ctx.settings.public_base_url


@router.post("", status_code=201)
async def create(body: PortalTokenIn, mode: Mode = Depends(authenticated_mode),
                 use_case: PortalTokens = Depends(portal_tokens),
                 org_and_url: tuple[str, str] = Depends(links)) -> dict[str, Any]:
    """The only answer that carries the token and its `portal_url`: only a hash is kept."""
    issued = await use_case.create(mode, body.customer_external_id, body.label, body.expires_at)
    return {"token": portal_token_json(issued.record, *org_and_url, token=issued.token)}


@router.get("")
async def list_tokens(customer_id: NameText | None = None, limit: int = Query(100, ge=1, le=1_000),
                      starting_after: IdText | None = None, mode: Mode = Depends(authenticated_mode),
                      use_case: PortalTokens = Depends(portal_tokens),
                      org_and_url: tuple[str, str] = Depends(links)) -> dict[str, Any]:
    items, more = await use_case.tokens(mode, customer_id, limit, starting_after)
    return page_json("tokens", [portal_token_json(t, *org_and_url) for t in items], more)


@router.delete("/{token_id}")
async def revoke(token_id: IdText, mode: Mode = Depends(authenticated_mode),
                 use_case: PortalTokens = Depends(portal_tokens),
                 org_and_url: tuple[str, str] = Depends(links)) -> dict[str, Any]:
    """The portal refuses the token from this instant; revoking again changes nothing."""
    return {"message": "Portal token revoked", "token": portal_token_json(await use_case.revoke(mode, token_id),
                                                                          *org_and_url)}
