"""The gateway's clients, built once in the app's lifespan and handed to routes (never at import)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from aiokafka import AIOKafkaProducer
from fastapi import Depends, Request

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.duplicate_precheck import RedisDuplicatePrecheck
from meterflow.adapters.edge_figure_repository import EdgeFigureRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.kafka_publisher import KafkaPublisher
from meterflow.adapters.postgres import Pool
from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.request_rates import RequestRates
from meterflow.adapters.spool.spool import Spool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.accounting import Reconciliation
from meterflow.application.edge_recounts import EdgeRecounts, RecountLimits
from meterflow.application.exact_usage import ExactUsage
from meterflow.application.ingest import IngestBatch
from meterflow.application.unit_of_work import UnitOfWorkFactory
from meterflow.clock import Clock
from meterflow.domain.api_keys import INGEST_PATH, KeyScope, allows, claimed_mode, hash_api_key
from meterflow.domain.edge_figures import EdgeFigure
from meterflow.domain.events import AcceptancePolicy
from meterflow.domain.modes import Mode
from meterflow.observability import count_recount
from meterflow.settings import Settings
from services.gateway.acknowledged_tally import BrokerAcknowledgements, SpoolAcknowledgements
from services.gateway.errors import ApiError, ErrorType


@dataclass(frozen=True)
class GatewayUsage(ExactUsage):
    """Period figures to the second for the routes (usage, drafts), and the counter's early duplicate
    answer for ingest."""

    counter: UsageStore

    async def known_keys(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        return await self.counter.known_keys(mode, idempotency_keys)


@dataclass
class GatewayContext:
    settings: Settings
    pool: Pool
    redis: RedisClient
    producer: AIOKafkaProducer
    clock: Clock
    spool: Spool | None = None  # None: MF_SPOOL_ENABLED=false, ingest publishes straight to Kafka
    catalog: CatalogRepository = field(init=False)
    invoices: InvoiceRepository = field(init=False)
    usage: GatewayUsage = field(init=False)
    acknowledged: AcknowledgedKeys = field(init=False)
    accounting: AccountingStore = field(init=False)
    reconciliation: Reconciliation = field(init=False)
    rates: RequestRates = field(init=False)
    unit_of_work: UnitOfWorkFactory = field(init=False)
    policy: AcceptancePolicy = field(init=False)
    ingest: IngestBatch = field(init=False)
    known_keys: dict[str, tuple[Mode, KeyScope, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.catalog = CatalogRepository(self.pool)
        self.invoices = InvoiceRepository(self.pool)
        rollups = UsageStore.from_settings(self.redis, self.settings)
        s = self.settings
        limits = RecountLimits(s.usage_recount_slots, s.usage_recount_queue, s.usage_recount_wait_s)
        recounts = EdgeRecounts[EdgeFigure](limits, count_recount)
        self.usage = GatewayUsage(rollups, EventRecordRepository(self.pool), self.catalog,
                                  EdgeFigureRepository(self.pool), recounts, s.edge_rules, self.clock, rollups)
        self.acknowledged = AcknowledgedKeys(self.redis, self.settings.dedupe_window_s + self.settings.clock_skew_s,
                                             timedelta(seconds=self.settings.clock_skew_s),
                                             self.settings.dedupe_mark_bucket_bits)
        retention = timedelta(seconds=self.settings.accounting_retention_s)
        self.accounting = AccountingStore(self.redis, retention)
        self.reconciliation = Reconciliation(self.accounting, self.clock, retention,
                                             timedelta(seconds=self.settings.processor_stall_after_s))
        self.rates = RequestRates(self.redis, self.settings.api_rate_limit_per_s)
        self.unit_of_work = partial(PostgresUnitOfWork, self.pool)
        self.policy = self.settings.acceptance_policy
        topics = {mode: self.settings.events_topic(mode) for mode in Mode}
        precheck = RedisDuplicatePrecheck(self.redis, rollups.marks_layout, self.acknowledged)
        if self.spool is None:
            self.ingest = IngestBatch(self.catalog, precheck, KafkaPublisher(self.producer, topics),
                                      BrokerAcknowledgements(self.accounting), self.policy)
        else:
            self.ingest = IngestBatch(self.catalog, precheck, self.spool,
                                      SpoolAcknowledgements(self.spool, self.accounting), self.policy)


def context(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.context
    return ctx


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, ErrorType.AUTHENTICATION, message, "Authorization")


async def _grant(ctx: GatewayContext, key: str) -> tuple[Mode, KeyScope] | None:
    """A key's mode and scope, remembered for `api_key_cache_s` at most: a key revoked meanwhile is
    refused by every gateway within that age, and the database is asked once per key per period."""
    now = time.monotonic()
    cached = ctx.known_keys.get(key)
    if cached and now - cached[2] < ctx.settings.api_key_cache_s:
        return cached[0], cached[1]
    grant = await ctx.catalog.key_grant(hash_api_key(key)) if claimed_mode(key) else None
    if grant is None:
        ctx.known_keys.pop(key, None)
        return None
    ctx.known_keys[key] = (*grant, now)
    return grant


async def authenticated_mode(request: Request, ctx: GatewayContext = Depends(context)) -> Mode:
    """The mode of the request's API key; every object it reads or writes must belong to that mode. An
    ingest-scoped key may call only `POST /v1/ingest` (403 elsewhere)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthenticated("Missing API key: send 'Authorization: Bearer mk_test_…'")
    grant = await _grant(ctx, key.strip())
    if grant is None:
        raise _unauthenticated("Invalid API key")
    mode, scope = grant
    if not await ctx.rates.admit(hash_api_key(key.strip())[:16], ctx.clock.now()):
        raise ApiError(429, ErrorType.RATE_LIMIT, f"Too many requests with this API key: at most "
                       f"{ctx.rates.limit_per_s} a second; retry after the time in Retry-After", "Authorization")
    if not allows(scope, request.method, request.url.path):
        raise ApiError(403, ErrorType.PERMISSION, f"This key's scope ({scope}) allows only POST {INGEST_PATH}",
                       "Authorization")
    return mode
