"""The closer service: close due periods every `close_interval_s`, forever; health and metrics on
`closer_web_port`. `period_closer` is the one place the close use case is wired to its adapters (the
ops commands use it too)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.failures import is_transient
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.alerts import evaluate_alerts
from meterflow.application.exact_usage import ExactUsage
from meterflow.application.invoices import Invoicing
from meterflow.application.period_close import CloseSummary, PeriodCloser
from meterflow.clock import Clock
from meterflow.observability import CLOSE_DURATION, CLOSE_SKIPPED, INVOICES_CLOSED
from meterflow.settings import Settings
from services.alert_reports import report_failure, report_round
from services.closer.replays import (
    drop_expired_events,
    forget_delivered_webhooks,
    forget_expired_answers,
    replay_forever,
    replayer,
)
from services.exact_usage import waiting_usage
from services.lifecycle import health_served, until_stopped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Closer:
    """The close use case and its neighbours, wired to one pool and one Redis client."""

    periods: PeriodCloser
    invoicing: Invoicing
    pool: Pool
    usage: UsageStore
    org_id: str
    exact: ExactUsage


@asynccontextmanager
async def period_closer(settings: Settings, clock: Clock) -> AsyncIterator[Closer]:
    pool = await create_pool(settings.database_dsn, max_size=4)
    redis = connect_redis(settings.redis_dsn)
    usage = UsageStore.from_settings(redis, settings)
    catalog, unit_of_work = CatalogRepository(pool), partial(PostgresUnitOfWork, pool)
    exact = waiting_usage(pool, usage, catalog, settings, clock)
    try:
        yield Closer(PeriodCloser(catalog, exact, unit_of_work, clock, timedelta(seconds=settings.close_grace_s),
                                  timedelta(seconds=settings.rollup_retention_s), is_transient,
                                  org_id=settings.org_id, auto_collect=settings.auto_collect),
                     Invoicing(catalog, exact, unit_of_work, clock, org_id=settings.org_id,
                               auto_collect=settings.auto_collect), pool, usage,
                     settings.org_id, exact)
    finally:
        await redis.aclose()
        await pool.close()


def report(summary: CloseSummary) -> None:
    """Count what a run did and log each skipped period with its reason (ops also list them with
    `meterflow close-failures`)."""
    INVOICES_CLOSED.inc(summary.invoices_written)
    for failure in summary.skipped:
        CLOSE_SKIPPED.labels(failure.stage.value, failure.reason).inc()
        log.error("skipped period %s → %s of %s at %s: %s: %s", failure.period.start.isoformat(),
                  failure.period.end.isoformat(), failure.subscription_id, failure.stage.value, failure.reason,
                  failure.detail)  # isoformat: a failed period's bounds may not convert to UTC


async def close_once(closer: Closer, clock: Clock) -> None:
    started = time.monotonic()
    summary = await closer.periods.close(as_of=clock.now())
    CLOSE_DURATION.observe(time.monotonic() - started)
    report(summary)
    if summary.periods_closed:
        log.info("closed %d periods, %d invoices written", summary.periods_closed, summary.invoices_written)


async def alerts_after_replay(closer: Closer, clock: Clock) -> None:
    """Every alert evaluated once (usage replayed may cross thresholds); a failure is reported and left to
    the customers' next change, never holding back the next job."""
    try:
        done = await evaluate_alerts(partial(PostgresUnitOfWork, closer.pool), closer.exact.catalog, closer.exact,
                                     clock, closer.org_id, is_transient, None)
    except Exception:
        report_failure(False, None)
        return
    report_round(done)


async def run_forever(settings: Settings, clock: Clock) -> None:
    """Until SIGTERM or SIGINT: then the current round is cancelled (its transaction rolls back) and
    connections close cleanly."""
    await until_stopped(lambda: _serve(settings, clock))


async def _serve(settings: Settings, clock: Clock) -> None:
    async with period_closer(settings, clock) as closer, health_served(
            {"postgres": lambda: closer.pool.fetchval("SELECT 1"), "redis": closer.usage.ping},
            settings.api_host, settings.closer_web_port):
        replays = asyncio.create_task(replay_forever(replayer(closer, clock), settings.close_interval_s,
                                                     partial(alerts_after_replay, closer, clock)))
        try:
            while True:
                try:
                    await close_once(closer, clock)
                    await drop_expired_events(closer, timedelta(seconds=settings.event_record_retention_s), clock)
                    await forget_expired_answers(closer, clock)
                    await forget_delivered_webhooks(closer, timedelta(seconds=settings.webhook_retention_s), clock)
                except Exception:
                    log.exception("period close failed; retrying next round")
                await asyncio.sleep(settings.close_interval_s)
        finally:
            replays.cancel()
