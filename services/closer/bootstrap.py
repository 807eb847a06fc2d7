"""The closer's composition root: the close use case and its neighbours (drafts and re-invoicing, replays,
alerts, the upkeep of the record and of the outbox) built here, once per process, over one pool and one
Redis client, and closed here. The ops commands that close or re-invoice open the same root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.edge_figure_repository import EdgeFigureRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.failures import is_transient
from meterflow.adapters.idempotency_repository import IdempotencyRepository
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.replay_job_repository import ReplayJobRepository
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.usage_store import UsageStore
from meterflow.adapters.webhook_event_repository import WebhookOutboxRepository
from meterflow.application.exact_usage import ExactUsage
from meterflow.application.invoices import Invoicing
from meterflow.application.period_close import PeriodCloser
from meterflow.application.replay import Replayer
from meterflow.clock import Clock
from meterflow.settings import Settings
from services.exact_usage import waiting_usage
from services.wiring import usage_store


@dataclass(frozen=True)
class Closer:
    """The close use case and its neighbours, wired to one pool and one Redis client."""

    periods: PeriodCloser
    invoicing: Invoicing
    replayer: Replayer
    pool: Pool
    usage: UsageStore
    org_id: str
    exact: ExactUsage
    unit_of_work: Callable[[], PostgresUnitOfWork]  # the billing tables, the wallets and the alerts
    record: EventRecordRepository
    edges: EdgeFigureRepository
    answers: IdempotencyRepository
    outbox: WebhookOutboxRepository


@asynccontextmanager
async def period_closer(settings: Settings, clock: Clock) -> AsyncIterator[Closer]:
    pool = await create_pool(settings.database_dsn, max_size=4)
    redis = connect_redis(settings.redis_dsn)
    usage = usage_store(redis, settings)
    catalog, unit_of_work = CatalogRepository(pool), partial(PostgresUnitOfWork, pool)
    exact = waiting_usage(pool, usage, catalog, settings, clock)
    record, org_id, auto_collect = EventRecordRepository(pool), settings.org_id, settings.auto_collect
    try:
        yield Closer(
            PeriodCloser(catalog, exact, unit_of_work, clock, timedelta(seconds=settings.close_grace_s),
                         timedelta(seconds=settings.rollup_retention_s), is_transient, org_id=org_id,
                         auto_collect=auto_collect),
            Invoicing(catalog, exact, unit_of_work, clock, org_id=org_id, auto_collect=auto_collect),
            Replayer(ReplayJobRepository(pool), catalog, record, usage, LateEventRepository(pool), clock,
                     unit_of_work=unit_of_work, org_id=org_id),
            pool, usage, org_id, exact, unit_of_work, record, EdgeFigureRepository(pool), IdempotencyRepository(pool),
            WebhookOutboxRepository(pool))
    finally:
        await redis.aclose()
        await pool.close()
