"""Invoices: drafts computed from rollups (the same computation and write path period close uses),
finalize, void. Thin: each route calls one use case of application/invoices.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from meterflow.adapters.invoice_repository import InvoiceFilters
from meterflow.application.invoices import Invoicing
from meterflow.domain.inputs import IdText
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.disconnects import unless_client_goes
from services.gateway.errors import found_or_404
from services.gateway.schemas import GenerateInvoiceIn, MarkPaidIn, invoice_json, one_json, page_json

router = APIRouter(prefix="/v1/invoices", route_class=checked_route())


def invoicing(ctx: GatewayContext = Depends(context)) -> Invoicing:
    return ctx.use_cases.invoicing


def org_id(ctx: GatewayContext = Depends(context)) -> str:
    return ctx.settings.org_id


def _one(invoice: Invoice, org: str) -> dict[str, Any]:
    return one_json("invoice", invoice_json(invoice, org))


@router.post("/generate", status_code=201)
async def generate(request: Request, body: GenerateInvoiceIn, mode: Mode = Depends(authenticated_mode),
                   use_case: Invoicing = Depends(invoicing), org: str = Depends(org_id)) -> dict[str, Any]:
    return _one(await unless_client_goes(request, use_case.generate_draft(mode, body.subscription_id)), org)


@router.get("")
async def list_invoices(customer_id: IdText | None = None, subscription_id: IdText | None = None,
                        status: InvoiceStatus | None = None, limit: int = Query(100, ge=1, le=1_000),
                        starting_after: IdText | None = None, mode: Mode = Depends(authenticated_mode),
                        ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    filters = InvoiceFilters(customer_id=customer_id, subscription_id=subscription_id,
                             status=status.value if status else None)
    items, more = await ctx.invoices.invoices(mode, limit, starting_after, filters)
    return page_json("invoices", [invoice_json(i, ctx.settings.org_id) for i in items], more)


@router.get("/{invoice_id}")
async def get_invoice(invoice_id: str, mode: Mode = Depends(authenticated_mode),
                      ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    found = found_or_404(await ctx.invoices.invoice(mode, invoice_id), "invoice", invoice_id)
    return _one(found, ctx.settings.org_id)


@router.post("/{invoice_id}/finalize")
async def finalize(invoice_id: str, mode: Mode = Depends(authenticated_mode),
                   use_case: Invoicing = Depends(invoicing), org: str = Depends(org_id)) -> dict[str, Any]:
    return _one(await use_case.set_status(mode, invoice_id, InvoiceStatus.FINALIZED), org)


@router.post("/{invoice_id}/void")
async def void(invoice_id: str, mode: Mode = Depends(authenticated_mode),
               use_case: Invoicing = Depends(invoicing), org: str = Depends(org_id)) -> dict[str, Any]:
    return _one(await use_case.set_status(mode, invoice_id, InvoiceStatus.VOID), org)


@router.post("/{invoice_id}/mark_paid")
async def mark_paid(invoice_id: str, body: MarkPaidIn | None = None, mode: Mode = Depends(authenticated_mode),
                    use_case: Invoicing = Depends(invoicing), org: str = Depends(org_id)) -> dict[str, Any]:
    """Finalized → paid (a payment collected elsewhere); the body is optional."""
    paid = body or MarkPaidIn()
    return _one(await use_case.set_status(mode, invoice_id, InvoiceStatus.PAID, paid.paid_at,
                                          paid.provider_invoice_id), org)


@router.post("/{invoice_id}/regenerate")
async def regenerate(request: Request, invoice_id: str, mode: Mode = Depends(authenticated_mode),
                     use_case: Invoicing = Depends(invoicing), org: str = Depends(org_id)) -> dict[str, Any]:
    return _one(await unless_client_goes(request, use_case.regenerate(mode, invoice_id)), org)
