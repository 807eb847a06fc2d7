"""The gateway's FastAPI app: clients built in the lifespan, routes thin, errors mapped in one place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from meterflow.adapters.kafka import ensure_topics, start_producer
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.gateway import routes_catalog, routes_invoices, routes_usage
from meterflow.gateway.context import GatewayContext, context
from meterflow.gateway.errors import install_error_handlers
from meterflow.gateway.json_bodies import JsonBodies
from meterflow.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings)
        pool = await create_pool(settings.database_dsn, max_size=20)
        redis = connect_redis(settings.redis_dsn)
        producer = await start_producer(settings)
        app.state.context = GatewayContext(settings, pool, redis, producer)
        try:
            yield
        finally:
            await producer.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(title="meterflow", version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(JsonBodies)
    for module in (routes_catalog, routes_usage, routes_invoices):
        app.include_router(module.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(ctx: GatewayContext = Depends(context)) -> JSONResponse:
        checks = await _dependency_checks(ctx)
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                            status_code=200 if ready else 503)

    return app


async def _dependency_checks(ctx: GatewayContext) -> dict[str, Any]:
    async def check(probe: Any) -> str:
        try:
            await asyncio.wait_for(probe(), timeout=2)
            return "ok"
        except Exception as exc:
            return f"error: {type(exc).__name__}"

    postgres, redis, kafka = await asyncio.gather(
        check(lambda: ctx.pool.fetchval("SELECT 1")), check(ctx.redis.ping),
        check(lambda: ctx.producer.client.fetch_all_metadata()))
    return {"postgres": postgres, "redis": redis, "kafka": kafka}
