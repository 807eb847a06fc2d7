"""The closer service: close due periods every `close_interval_s`, forever; health and metrics on
`closer_web_port`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from aiohttp import web

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.period_close_repository import PeriodCloseRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.period_close import PeriodCloser
from meterflow.observability import CLOSE_DURATION, INVOICES_CLOSED, metrics_payload, readiness
from meterflow.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def period_closer(settings: Settings) -> AsyncIterator[PeriodCloser]:
    pool = await create_pool(settings.database_dsn, max_size=4)
    redis = connect_redis(settings.redis_dsn)
    usage = UsageStore.from_settings(redis, settings)
    try:
        yield PeriodCloser(CatalogRepository(pool), usage, PeriodCloseRepository(pool),
                           timedelta(seconds=settings.close_grace_s))
    finally:
        await redis.aclose()
        await pool.close()


def _web_app(closer: PeriodCloser) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready, checks = await readiness({"postgres": closer.catalog.ping, "redis": closer.usage.ping})
        return web.json_response({"status": "ready" if ready else "unavailable", "checks": checks},
                                 status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = metrics_payload()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)])
    return app


async def close_once(closer: PeriodCloser) -> None:
    started, now = time.monotonic(), datetime.now(UTC)
    summary = await closer.close(as_of=now, now=now)
    CLOSE_DURATION.observe(time.monotonic() - started)
    INVOICES_CLOSED.inc(summary.invoices_written)
    if summary.periods_closed:
        log.info("closed %d periods, %d invoices written", summary.periods_closed, summary.invoices_written)


async def run_forever(settings: Settings) -> None:
    """Until SIGTERM or SIGINT: then the current round is cancelled (its transaction rolls back) and
    connections close cleanly."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await _serve(settings)


async def _serve(settings: Settings) -> None:
    async with period_closer(settings) as closer:
        runner = web.AppRunner(_web_app(closer))
        await runner.setup()
        await web.TCPSite(runner, settings.api_host, settings.closer_web_port).start()
        try:
            while True:
                try:
                    await close_once(closer)
                except Exception:
                    log.exception("period close failed; retrying next round")
                await asyncio.sleep(settings.close_interval_s)
        finally:
            await runner.cleanup()
