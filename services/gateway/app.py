"""The gateway's FastAPI app: clients built in the lifespan, routes thin, errors mapped in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from redis.exceptions import RedisError

from meterflow.adapters.kafka import ensure_topics, start_producer
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.clock import Clock, SystemClock
from meterflow.domain.accounting import LossReport
from meterflow.observability import metrics_payload, readiness
from meterflow.settings import Settings
from services.gateway import (
    routes_accounting,
    routes_alerts,
    routes_catalog,
    routes_catalog_changes,
    routes_events,
    routes_invoices,
    routes_payout_accounts,
    routes_subscriptions,
    routes_unbilled,
    routes_usage,
    routes_wallets,
    routes_webhooks,
)
from services.gateway.context import GatewayContext, context
from services.gateway.draining import DrainSwitch
from services.gateway.errors import install_error_handlers
from services.gateway.head_requests import HeadAsGet
from services.gateway.idempotency import with_idempotency
from services.gateway.json_bodies import JsonBodies
from services.gateway.openapi import install_openapi
from services.gateway.request_ids import with_request_id
from services.gateway.routes_accounting import AccountingGauges, loss_json
from services.gateway.trailing_slash import TrailingSlashes

ACCOUNTING_SCRAPE_TIMEOUT_S = 2.0


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """`clock` defaults to the system clock; tests may hand in a stepped one."""
    drain = DrainSwitch()
    gauges = AccountingGauges()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        drain.install()
        await ensure_topics(settings)
        pool = await create_pool(settings.database_dsn, max_size=20)
        redis = connect_redis(settings.redis_dsn)
        producer = await start_producer(settings)
        app.state.context = GatewayContext(settings, pool, redis, producer,
                                           clock or SystemClock())
        try:
            yield
        finally:
            await producer.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(title="meterflow", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(HeadAsGet)  # innermost: the access log and the request id see the HEAD
    app.middleware("http")(with_idempotency)
    app.add_middleware(JsonBodies)
    app.middleware("http")(drain.refuse_writes)
    app.middleware("http")(with_request_id)
    # Outermost: every layer sees one spelling of an API path, so none is ever redirected after its
    # Idempotency-Key was seen (trailing_slash.py).
    app.add_middleware(TrailingSlashes)
    for router in (routes_catalog.router, routes_catalog_changes.router, routes_subscriptions.router,
                   routes_usage.router, routes_usage.ingest_router, routes_invoices.router):
        app.include_router(router)
    app.include_router(routes_events.router)
    app.include_router(routes_unbilled.router)
    app.include_router(routes_webhooks.router)
    app.include_router(routes_accounting.router)
    app.include_router(routes_wallets.router)
    app.include_router(routes_payout_accounts.router)
    app.include_router(routes_alerts.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(ctx: GatewayContext = Depends(context)) -> JSONResponse:
        if drain.draining:
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        ready, checks = await readiness({
            "postgres": lambda: ctx.pool.fetchval("SELECT 1"), "redis": ctx.redis.ping,
            "kafka": ctx.producer.client.fetch_all_metadata})
        if not ready:
            return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
        # Acknowledged events lost with the broker keep the gateway "degraded" until ops acknowledge them
        # (`meterflow reconcile --acknowledge-loss`); it still serves (docs/accounting.md).
        lost = loss_json(await _accounting_metrics(gauges, ctx))
        return JSONResponse({"status": "degraded", "checks": checks, "lost": lost} if lost
                            else {"status": "ready", "checks": checks})

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(ctx: GatewayContext = Depends(context)) -> Response:
        await _accounting_metrics(gauges, ctx)
        body, content_type = metrics_payload()
        return Response(body, media_type=content_type)

    return app


async def _accounting_metrics(gauges: AccountingGauges, ctx: GatewayContext) -> list[LossReport]:
    """Bounded: a slow Redis must not hold a probe or a scrape (the gauges keep their last values)."""
    with contextlib.suppress(RedisError, TimeoutError):
        return await asyncio.wait_for(gauges.refresh(ctx), ACCOUNTING_SCRAPE_TIMEOUT_S)
    return gauges.losses
