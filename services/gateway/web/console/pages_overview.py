"""The overview, the reconciliation per hour and the dead letters: how events flow, hour by hour."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from meterflow.adapters.dead_letter_reader import KafkaDeadLetterReader
from meterflow.application.console_overview import ConsoleOverview
from meterflow.domain.console_sessions import ConsoleSession
from services.gateway.context import GatewayContext, context
from services.gateway.web.console.rendering import console_page, hourly_span, refusal_page, timestamp_field
from services.gateway.web.console.session import PATH, console_route, signed_in
from services.gateway.web.plots import Series

router = APIRouter(prefix=PATH, route_class=console_route(refusal_page))
MAX_LETTERS = 100
MAX_SHOWN_BYTES = 2_000


def overview_of(ctx: GatewayContext = Depends(context)) -> ConsoleOverview:
    return ctx.pages.console_overview


@router.get("")
async def overview(request: Request, session: ConsoleSession = Depends(signed_in),
                   read: ConsoleOverview = Depends(overview_of)) -> Response:
    o = await read(session.mode)
    return console_page(request, "overview.html", session, "overview", {
        "overview": o, "span": hourly_span(o.hours),
        "rates": [Series("ingested", [r.acknowledged for r in o.accounting]),
                  Series("counted", [r.counted for r in o.accounting])],
        "in_flight": [Series("in flight", [r.in_flight for r in o.accounting])],
        "dead_letters": [Series("dead lettered", [r.dead_lettered for r in o.accounting])],
        "close_failures": [Series("close failures", o.close_failures_per_hour)],
        "webhook_failures": [Series("failed attempts", o.webhook_failures_per_hour)]})


@router.get("/reconciliation")
async def reconciliation(request: Request, session: ConsoleSession = Depends(signed_in),
                         ctx: GatewayContext = Depends(context)) -> Response:
    """The hours of `[from, to)` (whole hours, RFC 3339), by default the last 24; a bound left blank takes
    its default, as in the API."""
    asked = {name: request.query_params.get(name, "").strip() for name in ("from", "to")}
    start, end = (timestamp_field(asked, name) if asked[name] else None for name in ("from", "to"))
    rows = await ctx.reconciliation.hours(session.mode, start, end)
    figures = ("acknowledged", "counted", "duplicates", "dead_lettered", "lost", "in_flight")
    series = [Series(name.replace("_", " "), [getattr(r, name) for r in rows]) for name in figures]
    return console_page(request, "reconciliation.html", session, "reconciliation",
                        {"rows": rows, "hours": [r.hour for r in rows], "series": series, "asked": asked,
                         "span": hourly_span([r.hour for r in rows])})


@router.get("/dead_letters")
async def dead_letters(request: Request, session: ConsoleSession = Depends(signed_in),
                       ctx: GatewayContext = Depends(context)) -> Response:
    """Dead letters per hour of receipt (the accounting), and the newest letters read back from their topic."""
    rows = await ctx.reconciliation.hours(session.mode)
    reader = KafkaDeadLetterReader(ctx.settings.kafka_servers, ctx.settings.dlq_topic)
    letters = await reader.newest(ctx.settings.events_topic(session.mode), MAX_LETTERS)
    return console_page(request, "dead_letters.html", session, "dead_letters", {
        "hours": [r.hour for r in rows], "series": [Series("dead lettered", [r.dead_lettered for r in rows])],
        "span": hourly_span([r.hour for r in rows]),
        "letters": [(letter, letter.value[:MAX_SHOWN_BYTES].decode("utf-8", errors="replace")) for letter in letters]})
