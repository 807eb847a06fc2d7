"""Ingest and usage endpoints: parse, call the use case, shape the answer; the rules live in the domain."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from meterflow.application.ingest import MAX_BODY_BYTES
from meterflow.application.invoicing import billed_quantity, metric_usage
from meterflow.domain.catalog import Metric, Subscription
from meterflow.domain.errors import FieldError
from meterflow.domain.events import decode_json_cutting_deep
from meterflow.domain.inputs import IdText, Timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.usage_windows import no_current_period, usage_window
from meterflow.observability import DUPLICATES_DROPPED, EVENTS_ACCEPTED, EVENTS_REJECTED
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.disconnects import unless_client_goes
from services.gateway.errors import found_or_404
from services.gateway.schemas import ExactJSONResponse, IngestIn, page_json, rollup_json

router = APIRouter(prefix="/v1", route_class=checked_route())
# Ingest takes the larger body docs/api.md allows; each event is checked on its own (one bad event is
# listed in `rejected`, never a reason to refuse the batch), nesting included: an event nested past the
# body's bound is cut at the bound and refused by its own properties' rule, naming the path.
ingest_router = APIRouter(prefix="/v1", route_class=checked_route(MAX_BODY_BYTES, decode_json_cutting_deep))


@ingest_router.post("/ingest", status_code=202)
async def ingest(body: IngestIn, mode: Mode = Depends(authenticated_mode),
                 ctx: GatewayContext = Depends(context)) -> JSONResponse:
    """Acknowledged (`ingested`) means durable: application/ingest.py, docs/spool.md."""
    result = await ctx.ingest(mode, body.events, ctx.clock.now())
    for reason in result.reasons:
        EVENTS_REJECTED.labels(reason).inc()
    EVENTS_ACCEPTED.labels(mode.value).inc(len(result.ingested))
    DUPLICATES_DROPPED.labels("gateway").inc(len(result.duplicates))
    return JSONResponse(result.as_json(), status_code=202)


MAX_ROLLUPS = 1_000


async def _priced_metrics(ctx: GatewayContext, mode: Mode,
                          subscriptions: list[Subscription]) -> dict[str, list[Metric]]:
    """Each customer's metrics: those its active subscriptions' plans price."""
    plans = await ctx.catalog.plans_by_id(mode, {s.plan_id for s in subscriptions})
    metric_ids = {p.metric_id for plan in plans.values() for p in plan.prices}
    metrics = await ctx.catalog.metrics_by_id(mode, metric_ids)
    by_customer: dict[str, dict[str, Metric]] = {}
    for s in subscriptions:
        priced = by_customer.setdefault(s.customer_id, {})
        priced |= {p.metric_id: metrics[p.metric_id] for p in plans[s.plan_id].prices if p.metric_id in metrics}
    return {customer: list(priced.values()) for customer, priced in by_customer.items()}


@router.get("/usage")
async def usage(request: Request, customer_id: IdText | None = None, metric_id: IdText | None = None,
                start: Timestamp | None = Query(None, alias="from"), to: Timestamp | None = None,
                limit: int = Query(MAX_ROLLUPS, ge=1, le=MAX_ROLLUPS), starting_after: IdText | None = None,
                mode: Mode = Depends(authenticated_mode), ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
    """One rollup per (customer, metric): each filter optional, as Monigo's clients send them. Without a
    metric, the metrics the customer's subscriptions price; without a window, each customer's current
    period. Without a customer, every customer with an active subscription, in order of id, each whole on
    one page: `has_more` says more follow, `starting_after=<the last rollup's customer_id>` asks for them."""
    if starting_after is not None and customer_id is not None:
        raise FieldError("starting_after", "pages customers: not with customer_id")
    window = usage_window(start, to, timedelta(seconds=ctx.settings.rollup_retention_s))
    if customer_id is not None:
        found_or_404(await ctx.catalog.customer(mode, customer_id), "customer", customer_id, "customer_id")
    metric = found_or_404(await ctx.catalog.metric(mode, metric_id), "metric", metric_id, "metric_id") \
        if metric_id is not None else None
    if customer_id is not None:
        rollups, more = await unless_client_goes(request, _of_customer(ctx, mode, customer_id, window, metric)), False
    else:
        rollups, more = await unless_client_goes(request, _across_customers(ctx, mode, window, metric, limit,
                                                                            starting_after))
    return ExactJSONResponse(page_json("rollups", rollups, more))


# What one customer's rollups are asked over: the customer, its window, the metrics.
Asked = tuple[str, Period, list[Metric]]


async def _asked(ctx: GatewayContext, mode: Mode, subscriptions: list[Subscription], window: Period | None,
                 metric: Metric | None) -> list[Asked]:
    """Each customer of `subscriptions`, in their order, with the window (or its current period) and the
    metric asked (or those its subscriptions price)."""
    current = {s.customer_id: s.open_period(ctx.clock.now()) for s in reversed(subscriptions)}
    priced = await _priced_metrics(ctx, mode, subscriptions)
    return [(customer, window or current[customer], [metric] if metric else priced.get(customer, []))
            for customer in dict.fromkeys(s.customer_id for s in subscriptions)]


async def _of_customer(ctx: GatewayContext, mode: Mode, customer_id: str, window: Period | None,
                       metric: Metric | None) -> list[dict[str, object]]:
    subscriptions = await ctx.catalog.active_subscriptions_of(mode, customer_id)
    if not subscriptions:
        if window is None:
            raise no_current_period()
        return await _figures(ctx, mode, customer_id, window, [metric] if metric else [])
    [(_, period, metrics)] = await _asked(ctx, mode, subscriptions, window, metric)
    return await _figures(ctx, mode, customer_id, period, metrics)


async def _across_customers(ctx: GatewayContext, mode: Mode, window: Period | None, metric: Metric | None,
                            limit: int, after: str | None) -> tuple[list[dict[str, object]], bool]:
    """Whole customers, in order of id, while their rollups fit in `limit` (the first always: one
    customer's metrics are never split across pages); and whether one was left for the next page. A
    customer without a metric adds nothing and never ends a page, so the next page's cursor, the last
    rollup's customer, always moves on."""
    rollups: list[dict[str, object]] = []
    while subscriptions := await ctx.catalog.active_subscriptions_by_customer(mode, limit, after):
        for customer, period, metrics in await _asked(ctx, mode, subscriptions, window, metric):
            if rollups and len(rollups) + len(metrics) > limit:
                return rollups, True
            rollups += await _figures(ctx, mode, customer, period, metrics)
            after = customer
    return rollups, False


async def _figures(ctx: GatewayContext, mode: Mode, customer: str, period: Period,
                   metrics: list[Metric]) -> list[dict[str, object]]:
    now = ctx.clock.now()
    return [rollup_json(ctx.settings.org_id, mode, customer, m, period, billed_quantity(m, figure),
                        figure.rollup.events, figure.rollup.unbillable, now)
            for m, figure in zip(metrics, await metric_usage(ctx.usage, customer, metrics, period), strict=True)]
