"""The customer portal (docs/portal.md): `/portal/<token>` and its invoice pages, read-only, for the one
customer and mode the token names. Thin: the token is checked by its use case (application/
portal_tokens.py) at every request (a revoked or expired token is refused at once), the reads are
application/customer_portal.py's, the page is a template.

Every refusal is the same 401 page, whatever was wrong with the token, and an invoice that is not the
customer's is the same 404 as one that does not exist, so a visitor guessing learns nothing. Portal pages
may be framed (a customer's own site embeds them); they send no referrer, so the token in the address
never leaks to a link's target.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from meterflow.application.customer_portal import CustomerPortal
from meterflow.domain.errors import Unavailable
from meterflow.domain.modes import Mode
from meterflow.domain.portal_tokens import PortalToken
from services.gateway.context import GatewayContext, context
from services.gateway.web.plots import Series
from services.gateway.web.templates import page

router = APIRouter(prefix="/portal", include_in_schema=False)


class Refused(Exception):
    """The page cannot be shown: its status and the message on the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def customer_portal(ctx: GatewayContext = Depends(context)) -> CustomerPortal:
    return ctx.pages.customer_portal


async def holder(token: str, ctx: GatewayContext = Depends(context)) -> PortalToken:
    found = await ctx.pages.portal_tokens.holder(token)
    if found is None:
        raise Refused(401, "This portal link is not valid: it may have expired or been revoked. Ask for a new one.")
    return found


def _answer(request: Request, template: str, values: dict[str, object], status_code: int = 200) -> HTMLResponse:
    return page(request, template, values, status_code=status_code, frameable=True)


async def _refused_page(request: Request, refused: Exception) -> Response:
    assert isinstance(refused, Refused)
    heading = {401: "Link not valid", 404: "Not found"}.get(refused.status, "Please wait")
    return _answer(request, "error.html", {"heading": heading, "message": refused.message}, refused.status)


def install_portal(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(Refused, _refused_page)


@router.get("/{token}", response_class=HTMLResponse)
async def portal(request: Request, token: str, grant: PortalToken = Depends(holder),
                 use_case: CustomerPortal = Depends(customer_portal)) -> HTMLResponse:
    try:
        view = await use_case.view(grant.mode, grant.customer_id)
    except Unavailable as exc:  # an edge hour being counted, a store away: the page, not a JSON error
        raise Refused(503, "Your figures are being brought up to date. Reload this page in a moment.") from exc
    if view is None:
        raise Refused(404, "This customer no longer exists.")
    plots = {(c.subscription.id, u.metric.id): [Series(u.metric.name, u.figures)]
             for c in view.current for u in c.usage}
    return _answer(request, "portal.html", {"view": view, "token": token, "plots": plots, "now": view.now,
                                            "test_mode": grant.mode is Mode.TEST})


@router.get("/{token}/invoices/{invoice_id}", response_class=HTMLResponse)
async def portal_invoice(request: Request, token: str, invoice_id: str, grant: PortalToken = Depends(holder),
                         use_case: CustomerPortal = Depends(customer_portal)) -> HTMLResponse:
    invoice = await use_case.invoice(grant.mode, grant.customer_id, invoice_id)
    if invoice is None:
        raise Refused(404, "No such invoice.")
    return _answer(request, "portal_invoice.html", {"invoice": invoice, "token": token,
                                                    "test_mode": grant.mode is Mode.TEST})
