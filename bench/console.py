"""The console's figure: how long the overview page takes to answer a signed-in ops user, with a day of work
behind it.

Seeded through the writers meterflow itself uses: 24 hours of acknowledged counts in the accounting
(`AccountingStore.add`, the gateway's tally), 200 periods failing to close (`CloseFailureRepository.record`,
the closer's record), and 10 webhook endpoints with 500 events each whose deliveries are claimed and answered
500 (`record_webhooks` through the outbox, then the delivery worker's `claim` and `record`), i.e. 5,000 failed
attempts in the last 24 hours. Then a real `meterflow gateway` serves the console, signed in over HTTP as a
browser would, and the overview is asked for 100 times in a row after 5 warm-ups.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx

from bench.services import gateway
from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.close_failure_repository import CloseFailureRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.webhook_delivery_repository import WebhookDeliveryRepository
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.webhook_outbox import Change, record_webhooks
from meterflow.domain.catalog import Customer
from meterflow.domain.close_failures import CloseFailure, CloseStage
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.webhooks import (
    Attempt,
    AttemptOutcome,
    DeliveryStatus,
    EndpointStatus,
    EventType,
    WebhookEndpoint,
)
from meterflow.settings import Settings
from services.key_ops import create_api_key
from tests.e2e.console_client import signed_in

ENDPOINTS = 10
EVENTS = 500
CLOSE_FAILURES = 200
WARM_UP = 5
ROUNDS = 100


@dataclass(frozen=True)
class ConsoleFigures:
    overview_p50_ms: float
    overview_p95_ms: float
    failed_attempts: int


async def _accounting(settings: Settings, now: datetime) -> None:
    redis = connect_redis(settings.redis_dsn)
    try:
        store = AccountingStore(redis, timedelta(seconds=settings.accounting_retention_s))
        for hours_ago in range(24):
            await store.add(Mode.LIVE, now - timedelta(hours=hours_ago), 10_000 + hours_ago)
    finally:
        await redis.aclose()


async def _close_failures(pool: Pool, now: datetime) -> None:
    failures = [CloseFailure(new_id(IdKind.SUBSCRIPTION), Mode.LIVE, Period(now - timedelta(days=31), now),
                             CloseStage.COMPUTE, "Unavailable", "bench", now - timedelta(minutes=7 * i))
                for i in range(CLOSE_FAILURES)]
    await CloseFailureRepository(pool).record(failures)


async def _failed_webhooks(pool: Pool, org_id: str, now: datetime) -> int:
    endpoints = WebhookEndpointRepository(pool)
    for i in range(ENDPOINTS):
        await endpoints.add_endpoint(WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.LIVE,
                                                     f"https://hooks{i}.bench.test/in", (EventType.CUSTOMER_CREATED,),
                                                     None, EndpointStatus.ENABLED, "whsec_bench", now, now))
    for start in range(0, EVENTS, 100):
        changes: list[Change] = [(EventType.CUSTOMER_CREATED, Customer(new_id(IdKind.CUSTOMER), Mode.LIVE,
                                                                        f"bench-{start + i}", "bench", None, {}, now))
                                 for i in range(100)]
        async with partial(PostgresUnitOfWork, pool)() as unit:
            await record_webhooks(unit.webhooks, org_id, changes, now)
            await unit.commit()
    deliveries, failed = WebhookDeliveryRepository(pool), 0
    while due := await deliveries.claim(now, 1_000, now + timedelta(minutes=5), "bench"):
        await deliveries.record([AttemptOutcome(d.id, d.claim_token, Attempt(1, now, 12, 500, None),
                                                DeliveryStatus.FAILED, None) for d in due], now)
        failed += len(due)
    return failed


async def measure(settings: Settings) -> ConsoleFigures:
    now = datetime.now(UTC)
    await _accounting(settings, now)
    pool = await create_pool(settings.database_dsn)
    try:
        await _close_failures(pool, now)
        failed = await _failed_webhooks(pool, settings.org_id, now)
    finally:
        await pool.close()
    key = await create_api_key(settings, Mode.LIVE)
    async with gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as console:
        await signed_in(console, key)
        timings = []
        for round_ in range(WARM_UP + ROUNDS):
            started = time.perf_counter()
            answer = await console.get("/console")
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200 or "Overview" not in answer.text:
                raise AssertionError(f"the overview answered {answer.status_code}: {answer.text[:200]}")
            if round_ >= WARM_UP:
                timings.append(elapsed)
    percentiles = statistics.quantiles(timings, n=100)
    return ConsoleFigures(statistics.median(timings), percentiles[94], failed)
