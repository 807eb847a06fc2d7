"""Ingest and usage endpoints: parse, call the use case, shape the answer; the rules live in the domain."""

from __future__ import annotations

from datetime import timedelta

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from meterflow.application.invoicing import billed_quantity, metric_usage
from meterflow.domain.errors import Unavailable
from meterflow.domain.inputs import IdText, Timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.usage_windows import no_current_period, usage_window
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, authenticated_mode, context
from services.gateway.errors import found_or_404
from services.gateway.ingest import MAX_BODY_BYTES, ingest_batch
from services.gateway.schemas import ExactJSONResponse, IngestIn, page_json, rollup_json

router = APIRouter(prefix="/v1", route_class=checked_route())
# Ingest takes the larger body api.md allows; each event is checked on its own (one bad event is
# listed in `rejected`, never a reason to refuse the batch).
ingest_router = APIRouter(prefix="/v1", route_class=checked_route(MAX_BODY_BYTES))


@ingest_router.post("/ingest", status_code=202)
async def ingest(body: IngestIn, mode: Mode = Depends(authenticated_mode),
                 ctx: GatewayContext = Depends(context)) -> JSONResponse:
    try:
        result = await ingest_batch(ctx, mode, body.events, ctx.clock.now())
    except KafkaError as exc:
        raise Unavailable(f"The event log did not acknowledge the batch ({type(exc).__name__}); "
                          "retry it: events are deduplicated by idempotency_key") from None
    return JSONResponse(result.as_json(), status_code=202)


async def _current_period(ctx: GatewayContext, mode: Mode, customer_id: str) -> Period:
    subscriptions = await ctx.catalog.active_subscriptions_of(mode, customer_id)
    if not subscriptions:
        raise no_current_period()
    return subscriptions[0].open_period(ctx.clock.now())


@router.get("/usage")
async def usage(customer_id: IdText, metric_id: IdText, start: Timestamp | None = Query(None, alias="from"),
                to: Timestamp | None = None, mode: Mode = Depends(authenticated_mode),
                ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
    period = usage_window(start, to, timedelta(seconds=ctx.settings.rollup_retention_s))
    found_or_404(await ctx.catalog.customer(mode, customer_id), "customer", customer_id, "customer_id")
    metric = found_or_404(await ctx.catalog.metric(mode, metric_id), "metric", metric_id, "metric_id")
    period = period or await _current_period(ctx, mode, customer_id)
    figure = (await metric_usage(ctx.usage, customer_id, [metric], period))[0]
    rollup = rollup_json(ctx.settings.org_id, mode, customer_id, metric, period, billed_quantity(metric, figure),
                         figure.rollup.events, figure.rollup.unbillable, ctx.clock.now())
    return ExactJSONResponse(page_json("rollups", [rollup], False))
