"""The gateway's FastAPI app: clients built in the lifespan, routes thin, errors mapped in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from redis.exceptions import RedisError

from meterflow.adapters.kafka import connect_when_reachable, ensure_topics, new_producer, start_producer
from meterflow.adapters.payment_providers import payment_providers
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.spool.broker import SpoolBroker
from meterflow.adapters.spool.spool import Spool, SpoolOptions, claim
from meterflow.clock import Clock, SystemClock
from meterflow.domain.accounting import LossReport
from meterflow.domain.modes import Mode
from meterflow.observability import (
    SPOOL_BYTES,
    SPOOL_EVENTS,
    SPOOL_OLDEST_UNFORWARDED_AGE,
    metrics_payload,
    readiness,
)
from meterflow.settings import Settings
from services.gateway import (
    routes_accounting,
    routes_alerts,
    routes_catalog,
    routes_catalog_changes,
    routes_events,
    routes_invoices,
    routes_payments,
    routes_payout_accounts,
    routes_portal,
    routes_portal_tokens,
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
from services.gateway.web import console
from services.gateway.web.templates import install_web

ACCOUNTING_SCRAPE_TIMEOUT_S = 2.0


async def open_spool(settings: Settings, producer: AIOKafkaProducer, connected: asyncio.Future[None],
                     clock: Clock) -> Spool:
    """This process's own spool directory under MF_SPOOL_DIR (one per gateway worker), read back and
    forwarding (once `connected`) before the first request."""
    directory, lock = claim(settings.spool_path)
    options = SpoolOptions(settings.spool_max_bytes, settings.spool_segment_bytes, settings.spool_forward_wait_s,
                           settings.spool_confirm_interval_s)
    broker = SpoolBroker(producer, settings.kafka_servers, settings.processor_id, connected)
    spool = Spool(directory, lock, broker,
                  {mode: settings.events_topic(mode) for mode in Mode}, options, clock)
    await spool.open()
    return spool


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """`clock` defaults to the system clock; tests may hand in a stepped one."""
    drain = DrainSwitch()
    gauges = AccountingGauges()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        drain.install()
        pool = await create_pool(settings.database_dsn, max_size=20)
        redis = connect_redis(settings.redis_dsn)
        spool, connecting = None, None
        if settings.spool_enabled:  # Kafka may be away: events wait in the spool until it is reachable
            producer = new_producer(settings)
            connecting = asyncio.create_task(connect_when_reachable(settings, producer), name="kafka-connect")
            spool = await open_spool(settings, producer, connecting, clock or SystemClock())
        else:
            await ensure_topics(settings)
            producer = await start_producer(settings)
        app.state.context = GatewayContext(settings, pool, redis, producer, clock or SystemClock(), spool)
        payments_http = httpx.AsyncClient()
        app.state.payment_providers = payment_providers(settings, payments_http)
        try:
            yield
        finally:
            await app.state.context.usage.recounts.aclose()
            await payments_http.aclose()
            if spool is not None:
                await spool.close(drain_s=settings.spool_forward_wait_s)
            if connecting is not None and not connecting.done():
                connecting.cancel()
            else:
                await producer.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(title="meterflow", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_openapi(app)
    install_web(app)
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
    app.include_router(routes_payments.router)
    app.include_router(routes_payments.provider_router)
    app.include_router(routes_wallets.router)
    app.include_router(routes_payout_accounts.router)
    app.include_router(routes_alerts.router)
    app.include_router(console.router)
    app.include_router(routes_portal_tokens.router)
    routes_portal.install_portal(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(ctx: GatewayContext = Depends(context)) -> JSONResponse:
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
            spool = {"spool": {"bytes": figures.bytes, "max_bytes": settings.spool_max_bytes,
                               "events": figures.events,
                               "oldest_unforwarded_age_s": round(figures.oldest_unforwarded_age_s, 3)}}
        if not ready:
            return JSONResponse({"status": "unavailable", "checks": checks, **spool}, status_code=503)
        # Acknowledged events lost with the broker keep the gateway "degraded" until ops acknowledge them
        # (`meterflow reconcile --acknowledge-loss`); it still serves (docs/accounting.md).
        lost = loss_json(await _accounting_metrics(gauges, ctx))
        return JSONResponse({"status": "degraded", "checks": checks, "lost": lost, **spool} if lost
                            else {"status": "ready", "checks": checks, **spool})

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(ctx: GatewayContext = Depends(context)) -> Response:
        await _accounting_metrics(gauges, ctx)
        if ctx.spool is not None:
            figures = ctx.spool.figures()
            SPOOL_BYTES.set(figures.bytes)
            SPOOL_EVENTS.set(figures.events)
            SPOOL_OLDEST_UNFORWARDED_AGE.set(figures.oldest_unforwarded_age_s)
        body, content_type = metrics_payload()
        return Response(body, media_type=content_type)

    return app


async def _accounting_metrics(gauges: AccountingGauges, ctx: GatewayContext) -> list[LossReport]:
    """Bounded: a slow Redis must not hold a probe or a scrape (the gauges keep their last values)."""
    with contextlib.suppress(RedisError, TimeoutError):
        return await asyncio.wait_for(gauges.refresh(ctx), ACCOUNTING_SCRAPE_TIMEOUT_S)
    return gauges.losses
