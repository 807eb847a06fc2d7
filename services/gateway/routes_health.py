"""The gateway's health: alive (`/healthz`), ready to take requests (`/readyz`: its servers answer, it is not
draining, and whether acknowledged events were lost), and its Prometheus figures (`/metrics`)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from redis.exceptions import RedisError

from meterflow.domain.accounting import LossReport
from meterflow.observability import (
    SPOOL_BYTES,
    SPOOL_EVENTS,
    SPOOL_OLDEST_UNFORWARDED_AGE,
    metrics_payload,
    readiness,
)
from services.gateway.context import GatewayContext, context
from services.gateway.draining import DrainSwitch
from services.gateway.routes_accounting import AccountingGauges, loss_json

ACCOUNTING_SCRAPE_TIMEOUT_S = 2.0
router = APIRouter()


def drain_switch(request: Request) -> DrainSwitch:
    switch: DrainSwitch = request.app.state.drain
    return switch


def accounting_gauges(request: Request) -> AccountingGauges:
    gauges: AccountingGauges = request.app.state.accounting_gauges
    return gauges


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: GatewayContext = Depends(context), drain: DrainSwitch = Depends(drain_switch),
                 gauges: AccountingGauges = Depends(accounting_gauges)) -> JSONResponse:
    if drain.draining:
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    probes = {"postgres": lambda: ctx.pool.fetchval("SELECT 1"), "redis": ctx.redis.ping,
              "kafka": ctx.producer.client.fetch_all_metadata}
    spool: dict[str, object] = {}
    if ctx.spool is None:
        ready, checks = await readiness(probes)
    else:
        # With a spool, Kafka away is not a reason to refuse events: a full spool is.
        _, checks = await readiness({**probes, "spool": ctx.spool.check})
        ready = all(result == "ok" for name, result in checks.items() if name != "kafka")
        figures = ctx.spool.figures()
        spool = {"spool": {"bytes": figures.bytes, "max_bytes": ctx.settings.spool_max_bytes,
                           "events": figures.events,
                           "oldest_unforwarded_age_s": round(figures.oldest_unforwarded_age_s, 3)}}
    if not ready:
        return JSONResponse({"status": "unavailable", "checks": checks, **spool}, status_code=503)
    # Acknowledged events lost with the broker keep the gateway "degraded" until ops acknowledge them
    # (`meterflow reconcile --acknowledge-loss`); it still serves (docs/accounting.md).
    lost = loss_json(await _accounting_metrics(gauges, ctx))
    return JSONResponse({"status": "degraded", "checks": checks, "lost": lost, **spool} if lost
                        else {"status": "ready", "checks": checks, **spool})


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: GatewayContext = Depends(context),
                  gauges: AccountingGauges = Depends(accounting_gauges)) -> Response:
    await _accounting_metrics(gauges, ctx)
    if ctx.spool is not None:
        figures = ctx.spool.figures()
        SPOOL_BYTES.set(figures.bytes)
        SPOOL_EVENTS.set(figures.events)
        SPOOL_OLDEST_UNFORWARDED_AGE.set(figures.oldest_unforwarded_age_s)
    body, content_type = metrics_payload()
    return Response(body, media_type=content_type)


async def _accounting_metrics(gauges: AccountingGauges, ctx: GatewayContext) -> list[LossReport]:
    """Bounded: a slow Redis must not hold a probe or a scrape (the gauges keep their last values)."""
    with contextlib.suppress(RedisError, TimeoutError):
        return await asyncio.wait_for(gauges.refresh(ctx), ACCOUNTING_SCRAPE_TIMEOUT_S)
    return gauges.losses
