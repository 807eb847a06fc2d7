"""The gateway's FastAPI app: clients built by the composition root (bootstrap.py) in the lifespan, the
middleware in its order, the routers; routes thin, errors mapped in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meterflow.clock import Clock, SystemClock
from meterflow.settings import Settings
from services.gateway import (
    routes_accounting,
    routes_alerts,
    routes_catalog,
    routes_catalog_changes,
    routes_events,
    routes_health,
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
from services.gateway.bootstrap import gateway
from services.gateway.draining import DrainSwitch
from services.gateway.errors import install_error_handlers
from services.gateway.head_requests import HeadAsGet
from services.gateway.idempotency import with_idempotency
from services.gateway.json_bodies import JsonBodies
from services.gateway.openapi import install_openapi
from services.gateway.request_ids import with_request_id
from services.gateway.routes_accounting import AccountingGauges
from services.gateway.trailing_slash import TrailingSlashes
from services.gateway.web import console
from services.gateway.web.templates import install_web


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """`clock` defaults to the system clock; tests may hand in a stepped one."""
    drain = DrainSwitch()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        drain.install()
        app.state.drain, app.state.accounting_gauges = drain, AccountingGauges()
        async with gateway(settings, clock or SystemClock()) as built:
            app.state.context = built.context
            app.state.api_key_grants = built.api_key_grants
            yield

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
    app.include_router(routes_health.router)
    return app

