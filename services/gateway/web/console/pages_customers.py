"""Customers (search, a customer's file) and invoices (lines, the events behind each line, and the invoice's
actions). The actions call the very use cases of the API's routes, built by the same dependencies."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from meterflow.application.collection import Collection
from meterflow.application.console_customers import CustomerFiles
from meterflow.application.events_on_record import invoice_events
from meterflow.application.invoices import Invoicing
from meterflow.domain.console_sessions import ConsoleSession
from meterflow.domain.invoices import InvoiceStatus
from services.gateway.context import GatewayContext, context
from services.gateway.errors import found_or_404
from services.gateway.routes_events import MAX_LINES
from services.gateway.routes_invoices import invoicing
from services.gateway.routes_payments import collection
from services.gateway.web.console.rendering import console_page, count_field, refusal_page
from services.gateway.web.console.session import PATH, console_route, posted_form, signed_in
from services.gateway.web.plots import Series

router = APIRouter(prefix=PATH, route_class=console_route(refusal_page))
MAX_FOUND = 100
EVENTS_A_PAGE = 25
# The status each of the invoice's status actions sets, as the API's finalize, void and mark_paid (the last
# without a body: paid now, collected elsewhere).
STATUS_ACTIONS = {"finalize": InvoiceStatus.FINALIZED, "void": InvoiceStatus.VOID, "mark_paid": InvoiceStatus.PAID}
StatusAction = Literal["finalize", "void", "mark_paid"]
DONE = {"finalize": "Invoice finalized.", "void": "Invoice voided.", "mark_paid": "Invoice marked paid.",
        "collect": "Collection started: the payment worker charges the invoice now."}


def customer_files(ctx: GatewayContext = Depends(context)) -> CustomerFiles:
    return ctx.pages.customer_files


@router.get("/customers")
async def customers(request: Request, q: str = "", session: ConsoleSession = Depends(signed_in),
                    ctx: GatewayContext = Depends(context)) -> Response:
    found = await ctx.catalog.search_customers(session.mode, q.strip(), MAX_FOUND)
    return console_page(request, "customers.html", session, "customers", {"customers": found, "query": q.strip()})


@router.get("/customers/{customer_id}")
async def customer(request: Request, customer_id: str, session: ConsoleSession = Depends(signed_in),
                   files: CustomerFiles = Depends(customer_files)) -> Response:
    file = found_or_404(await files(session.mode, customer_id), "customer", customer_id)
    plots = {(c.subscription.id, u.metric.id): [Series(u.metric.name, u.figures)]
             for c in file.view.current for u in c.usage}
    names = {u.metric.id: u.metric.name for c in file.view.current for u in c.usage}
    past = [(names.get(u.metric_id, u.metric_id), [p.start for p in u.periods],
             [Series(names.get(u.metric_id, u.metric_id), u.quantities)], (u.periods[0].start, u.periods[-1].end))
            for u in file.past]
    return console_page(request, "customer.html", session, "customers", {"file": file, "plots": plots, "past": past})


@router.get("/invoices/{invoice_id}")
async def invoice(request: Request, invoice_id: str, line: str = "", after: str = "", done: str = "",
                  session: ConsoleSession = Depends(signed_in), ctx: GatewayContext = Depends(context),
                  payments: Collection = Depends(collection)) -> Response:
    found = found_or_404(await ctx.invoices.invoice(session.mode, invoice_id), "invoice", invoice_id)
    position = count_field(line, "line", MAX_LINES)
    events, more = await invoice_events(ctx.invoices, ctx.catalog, ctx.stores.event_records, session.mode,
                                        invoice_id, position, EVENTS_A_PAGE, after or None)
    after_last = {"line": line, "after": events[-1].idempotency_key} if more and events else None
    return console_page(request, "invoice.html", session, "customers", {
        "invoice": found, "line": position, "events": events, "done": DONE.get(done),
        "transactions": await payments.transactions(session.mode, invoice_id),
        "next_events": f"{PATH}/invoices/{invoice_id}?{urlencode(after_last)}" if after_last else None})


def _back_to(invoice_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{PATH}/invoices/{invoice_id}?done={done}", status_code=303)


@router.post("/invoices/{invoice_id}/collect")
async def collect(invoice_id: str, session: ConsoleSession = Depends(signed_in), _: object = Depends(posted_form),
                  use_case: Collection = Depends(collection)) -> Response:
    """A collection attempt with the customer's default payment method (the API's initiate-payment)."""
    await use_case.initiate(session.mode, invoice_id)
    return _back_to(invoice_id, "collect")


@router.post("/invoices/{invoice_id}/{action}")
async def set_status(invoice_id: str, action: StatusAction, session: ConsoleSession = Depends(signed_in),
                     _: object = Depends(posted_form), use_case: Invoicing = Depends(invoicing)) -> Response:
    await use_case.set_status(session.mode, invoice_id, STATUS_ACTIONS[action])
    return _back_to(invoice_id, action)
