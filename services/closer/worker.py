"""The closer service: close due periods every `close_interval_s`, forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.period_close_repository import PeriodCloseRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.usage_store import UsageStore
from meterflow.closing import PeriodCloser
from meterflow.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def period_closer(settings: Settings) -> AsyncIterator[PeriodCloser]:
    pool = await create_pool(settings.database_dsn, max_size=4)
    redis = connect_redis(settings.redis_dsn)
    usage = UsageStore(redis, dedupe_window=timedelta(seconds=settings.dedupe_window_s),
                       clock_skew=timedelta(seconds=settings.clock_skew_s),
                       retention=timedelta(seconds=settings.rollup_retention_s))
    try:
        yield PeriodCloser(CatalogRepository(pool), usage, PeriodCloseRepository(pool),
                           timedelta(seconds=settings.close_grace_s))
    finally:
        await redis.aclose()
        await pool.close()


async def run_forever(settings: Settings) -> None:
    async with period_closer(settings) as closer:
        while True:
            now = datetime.now(UTC)
            try:
                summary = await closer.close(as_of=now, now=now)
                if summary.periods_closed:
                    log.info("closed %d periods, %d invoices written", summary.periods_closed,
                             summary.invoices_written)
            except Exception:
                log.exception("period close failed; retrying next round")
            await asyncio.sleep(settings.close_interval_s)
