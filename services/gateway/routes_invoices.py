"""Invoices: drafts computed from rollups (the same computation period close uses), finalize, void."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from meterflow.adapters.invoice_repository import InvoiceLocked
from meterflow.application.invoicing import compute_invoices
from meterflow.domain.catalog import Subscription
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, authenticated_mode, context
from services.gateway.errors import conflict, found_or_404
from services.gateway.schemas import GenerateInvoiceIn, invoice_json, page_json

router = APIRouter(prefix="/v1/invoices", route_class=checked_route())


async def _save_draft(ctx: GatewayContext, subscription: Subscription, period: Period) -> Invoice:
    [draft] = await compute_invoices(ctx.catalog, ctx.usage, [(subscription, period)], ctx.clock.now(),
                                     InvoiceStatus.DRAFT)
    try:
        return await ctx.invoices.save_draft(draft)
    except InvoiceLocked as exc:
        raise conflict(f"The invoice {exc.invoice.id} for this period is {exc.invoice.status.value}; "
                       "void it first to invoice the period again") from None


@router.post("/generate", status_code=201)
async def generate(body: GenerateInvoiceIn, mode: Mode = Depends(authenticated_mode),
                   ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    subscription = found_or_404(await ctx.catalog.subscription(mode, body.subscription_id), "subscription",
                                body.subscription_id, "subscription_id")
    period = subscription.open_period(ctx.clock.now())
    return invoice_json(await _save_draft(ctx, subscription, period))


@router.get("")
async def list_invoices(customer_id: str | None = None, limit: int = Query(10, ge=1, le=100),
                        starting_after: str | None = None, mode: Mode = Depends(authenticated_mode),
                        ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    items, more = await ctx.invoices.invoices(mode, customer_id, limit, starting_after)
    return page_json([invoice_json(i) for i in items], more)


async def _invoice(ctx: GatewayContext, mode: Mode, invoice_id: str) -> Invoice:
    return found_or_404(await ctx.invoices.invoice(mode, invoice_id), "invoice", invoice_id)


@router.get("/{invoice_id}")
async def get_invoice(invoice_id: str, mode: Mode = Depends(authenticated_mode),
                      ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    return invoice_json(await _invoice(ctx, mode, invoice_id))


async def _set_status(ctx: GatewayContext, mode: Mode, invoice_id: str, status: InvoiceStatus) -> dict[str, Any]:
    try:
        invoice = await ctx.invoices.set_status(mode, invoice_id, status, ctx.clock.now())
    except InvoiceLocked as exc:
        raise conflict(f"Invoice {invoice_id} is {exc.invoice.status.value} and cannot become "
                       f"{status.value}") from None
    return invoice_json(found_or_404(invoice, "invoice", invoice_id))


@router.post("/{invoice_id}/finalize")
async def finalize(invoice_id: str, mode: Mode = Depends(authenticated_mode),
                   ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    return await _set_status(ctx, mode, invoice_id, InvoiceStatus.FINALIZED)


@router.post("/{invoice_id}/void")
async def void(invoice_id: str, mode: Mode = Depends(authenticated_mode),
               ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    return await _set_status(ctx, mode, invoice_id, InvoiceStatus.VOID)


@router.post("/{invoice_id}/regenerate")
async def regenerate(invoice_id: str, mode: Mode = Depends(authenticated_mode),
                     ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    invoice = await _invoice(ctx, mode, invoice_id)
    if invoice.status is not InvoiceStatus.DRAFT:
        raise conflict(f"Invoice {invoice_id} is {invoice.status.value}; only drafts are regenerated")
    subscription = await ctx.catalog.subscription(mode, invoice.subscription_id)
    assert subscription is not None
    return invoice_json(await _save_draft(ctx, subscription, invoice.period))
