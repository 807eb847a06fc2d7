"""Ingest and usage endpoints."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from meterflow.application.invoicing import billed_quantity, metric_usage
from meterflow.domain.events import decode_json, format_timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, is_hour_aligned
from services.gateway.context import GatewayContext, authenticated_mode, context
from services.gateway.errors import found_or_404, invalid, unavailable
from services.gateway.ingest import MAX_BODY_BYTES, MAX_EVENTS_PER_BATCH, ingest_batch
from services.gateway.schemas import decimal_text

router = APIRouter(prefix="/v1")


async def _events_of(request: Request) -> list[Any]:
    """Whole-batch checks: any failure here accepts nothing."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise invalid(f"Body exceeds {MAX_BODY_BYTES} bytes", status=413)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise invalid(f"Body exceeds {MAX_BODY_BYTES} bytes", status=413)
    try:
        payload = decode_json(body)
    except ValueError as exc:
        raise invalid(f"Malformed JSON body: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise invalid("Body must be an object with an 'events' array", "events")
    events: list[Any] = payload["events"]
    if not 1 <= len(events) <= MAX_EVENTS_PER_BATCH:
        raise invalid(f"A batch holds 1 to {MAX_EVENTS_PER_BATCH} events, got {len(events)}", "events",
                      status=413 if len(events) > MAX_EVENTS_PER_BATCH else 400)
    return events


@router.post("/ingest", status_code=202)
async def ingest(request: Request, mode: Mode = Depends(authenticated_mode),
                 ctx: GatewayContext = Depends(context)) -> JSONResponse:
    events = await _events_of(request)
    try:
        result = await ingest_batch(ctx, mode, events, ctx.clock.now())
    except KafkaError as exc:
        raise unavailable(f"The event log did not acknowledge the batch ({type(exc).__name__}); "
                          "retry it: events are deduplicated by idempotency_key") from None
    return JSONResponse(result.as_json(), status_code=202)


async def _default_period(ctx: GatewayContext, mode: Mode, customer_id: str) -> Period:
    subscriptions = await ctx.catalog.active_subscriptions_of(mode, customer_id)
    if not subscriptions:
        raise invalid("from and to are required: the customer has no active subscription", "from")
    return subscriptions[0].open_period(ctx.clock.now())


@router.get("/usage")
async def usage(customer_id: str, metric_id: str, start: AwareDatetime | None = Query(None, alias="from"),
                to: AwareDatetime | None = None, mode: Mode = Depends(authenticated_mode),
                ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    found_or_404(await ctx.catalog.customer(mode, customer_id), "customer", customer_id, "customer_id")
    metric = found_or_404(await ctx.catalog.metric(mode, metric_id), "metric", metric_id, "metric_id")
    if start is None and to is None:
        period = await _default_period(ctx, mode, customer_id)
    elif start is None or to is None:
        raise invalid("give both from and to, or neither (the current period)", "from" if start is None else "to")
    else:
        period = Period(start, to)
    for name, at in (("from", period.start), ("to", period.end)):
        if not is_hour_aligned(at):
            raise invalid(f"{name} must be on a whole UTC hour (usage is rolled up hourly)", name)
    if period.end <= period.start:
        raise invalid("to must be after from", "to")
    figure = (await metric_usage(ctx.usage, customer_id, [metric], period))[0]
    return {"object": "usage", "customer_id": customer_id, "metric_id": metric_id,
            "aggregation": metric.aggregation.value, "period_start": format_timestamp(period.start),
            "period_end": format_timestamp(period.end), "value": decimal_text(billed_quantity(metric, figure)),
            "event_count": figure.rollup.events, "unbillable_count": figure.rollup.unbillable}

