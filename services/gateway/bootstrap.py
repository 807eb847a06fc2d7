"""The gateway's composition root: every client, adapter and use case of one gateway process is built here,
once, when the app starts (its lifespan), and closed here when it stops. Routes receive what they need
through the context (context.py) and never build a client themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import httpx
from aiokafka import AIOKafkaProducer

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.alert_repository import AlertRepository
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.close_failure_repository import CloseFailureRepository
from meterflow.adapters.console_session_store import RedisSessionStore
from meterflow.adapters.duplicate_precheck import RedisDuplicatePrecheck
from meterflow.adapters.edge_figure_repository import EdgeFigureRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.idempotency_repository import IdempotencyRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.kafka import connect_when_reachable, ensure_topics, new_producer, start_producer
from meterflow.adapters.kafka_publisher import KafkaPublisher
from meterflow.adapters.payout_account_repository import PayoutAccountRepository
from meterflow.adapters.portal_token_repository import PortalTokenRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import RedisClient, connect_redis
from meterflow.adapters.replay_job_repository import ReplayJobRepository
from meterflow.adapters.request_rates import RequestRates
from meterflow.adapters.spool.broker import SpoolBroker
from meterflow.adapters.spool.spool import Spool, SpoolOptions, claim
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.wallet_repository import WalletRepository
from meterflow.adapters.webhook_delivery_repository import WebhookDeliveryRepository
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.adapters.webhook_http import DnsResolver
from meterflow.application.accounting import Reconciliation
from meterflow.application.alerts import Alerts
from meterflow.application.catalog_changes import CatalogChanges
from meterflow.application.console_customers import CustomerFiles
from meterflow.application.console_overview import ConsoleOverview
from meterflow.application.console_sessions import ConsoleSessions
from meterflow.application.customer_portal import CustomerPortal
from meterflow.application.edge_recounts import EdgeRecounts, RecountLimits
from meterflow.application.ingest import IngestBatch
from meterflow.application.invoices import Invoicing
from meterflow.application.payment_methods import PaymentMethods
from meterflow.application.payout_accounts import PayoutAccounts
from meterflow.application.portal_tokens import PortalTokens
from meterflow.application.ports.payments import Providers
from meterflow.application.provider_webhooks import ProviderWebhooks
from meterflow.application.subscriptions import Subscriptions
from meterflow.application.unbilled import UnbilledUsage
from meterflow.application.wallets import Wallets
from meterflow.application.webhook_endpoints import WebhookEndpoints
from meterflow.clock import Clock
from meterflow.domain.edge_figures import EdgeFigure
from meterflow.domain.modes import Mode
from meterflow.observability import count_alerts_fired, count_recount
from meterflow.settings import Settings
from services.gateway.acknowledged_tally import BrokerAcknowledgements, SpoolAcknowledgements
from services.gateway.authentication import ApiKeyGrants
from services.gateway.context import GatewayContext, GatewayUsage, PageUseCases, Stores, UseCases
from services.wiring import collection, kafka_setup, payment_providers, usage_store


@dataclass(frozen=True)
class Gateway:
    """What one gateway process runs on: the routes' context and the API keys' grants."""

    context: GatewayContext
    api_key_grants: ApiKeyGrants


@asynccontextmanager
async def gateway(settings: Settings, clock: Clock) -> AsyncIterator[Gateway]:
    """The process's clients opened, wired, and closed on the way out (the spool drained first)."""
    pool = await create_pool(settings.database_dsn, max_size=20)
    redis = connect_redis(settings.redis_dsn)
    spool, connecting, kafka = None, None, kafka_setup(settings)
    if settings.spool_enabled:  # Kafka may be away: events wait in the spool until it is reachable
        producer = new_producer(kafka)
        connecting = asyncio.create_task(connect_when_reachable(kafka, producer), name="kafka-connect")
        spool = await open_spool(settings, producer, connecting, clock)
    else:
        await ensure_topics(kafka)
        producer = await start_producer(kafka)
    payments_http = httpx.AsyncClient()
    ctx = gateway_context(settings, pool, redis, producer, clock, spool, payment_providers(settings, payments_http))
    try:
        yield Gateway(ctx, ApiKeyGrants(ctx.catalog, settings.api_key_cache_s))
    finally:
        await ctx.usage.recounts.aclose()
        await payments_http.aclose()
        if spool is not None:
            await spool.close(drain_s=settings.spool_forward_wait_s)
        if connecting is not None and not connecting.done():
            connecting.cancel()
        else:
            await producer.stop()
        await redis.aclose()
        await pool.close()


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


def gateway_context(settings: Settings, pool: Pool, redis: RedisClient, producer: AIOKafkaProducer, clock: Clock,
                    spool: Spool | None, providers: Providers) -> GatewayContext:
    """The adapters and use cases the routes share, each built once over the process's clients."""
    s = settings
    catalog = CatalogRepository(pool)
    rollups = usage_store(redis, s)
    recounts = EdgeRecounts[EdgeFigure](
        RecountLimits(s.usage_recount_slots, s.usage_recount_queue, s.usage_recount_wait_s), count_recount)
    usage = GatewayUsage(rollups, EventRecordRepository(pool), catalog, EdgeFigureRepository(pool), recounts,
                         s.edge_rules, clock, rollups)
    acknowledged = AcknowledgedKeys(redis, s.dedupe_window_s + s.clock_skew_s, timedelta(seconds=s.clock_skew_s),
                                    s.dedupe_mark_bucket_bits)
    retention = timedelta(seconds=s.accounting_retention_s)
    accounting = AccountingStore(redis, retention)
    reconciliation = Reconciliation(accounting, clock, retention, timedelta(seconds=s.processor_stall_after_s))
    precheck = RedisDuplicatePrecheck(redis, rollups.counted_layouts, acknowledged)
    if spool is None:
        topics = {mode: s.events_topic(mode) for mode in Mode}
        ingest = IngestBatch(catalog, precheck, KafkaPublisher(producer, topics),
                             BrokerAcknowledgements(accounting), s.acceptance_policy)
    else:
        ingest = IngestBatch(catalog, precheck, spool, SpoolAcknowledgements(spool, accounting), s.acceptance_policy)
    unit_of_work = partial(PostgresUnitOfWork, pool)
    stores = Stores(EventRecordRepository(pool), ReplayJobRepository(pool), WebhookEndpointRepository(pool),
                    WebhookDeliveryRepository(pool), AlertRepository(pool), IdempotencyRepository(pool))
    invoices = InvoiceRepository(pool)
    portal = CustomerPortal(catalog, usage, invoices, WalletRepository(pool), clock)
    pages = PageUseCases(
        portal_tokens=PortalTokens(PortalTokenRepository(pool), clock), customer_portal=portal,
        customer_files=CustomerFiles(portal, stores.alerts, UnbilledUsage(catalog, usage)),
        console_overview=ConsoleOverview(reconciliation, CloseFailureRepository(pool), stores.webhook_deliveries,
                                         stores.webhook_endpoints),
        console_sessions=ConsoleSessions(catalog, RedisSessionStore(redis), clock,
                                         timedelta(seconds=s.console_session_s)))
    return GatewayContext(s, pool, redis, producer, clock, spool, catalog, invoices, usage,
                          acknowledged, accounting, reconciliation, RequestRates(redis, s.api_rate_limit_per_s),
                          unit_of_work, s.acceptance_policy, ingest, stores,
                          use_cases(s, pool, catalog, usage, unit_of_work, clock, providers, stores), pages)


def use_cases(s: Settings, pool: Pool, catalog: CatalogRepository, usage: GatewayUsage,
              unit_of_work: Callable[[], PostgresUnitOfWork], clock: Clock, providers: Providers,
              stores: Stores) -> UseCases:
    collect = collection(s, unit_of_work, providers, clock)
    methods = PaymentMethods(unit_of_work, providers, clock)
    return UseCases(
        catalog_changes=CatalogChanges(catalog, clock, unit_of_work=unit_of_work, org_id=s.org_id),
        subscriptions=Subscriptions(catalog, unit_of_work, clock, org_id=s.org_id,
                                    start_allowance=s.acceptance_policy.future_tolerance),
        invoicing=Invoicing(catalog, usage, unit_of_work, clock, org_id=s.org_id, auto_collect=s.auto_collect,
                            alerts_fired=count_alerts_fired),
        wallets=Wallets(unit_of_work, clock, s.org_id, count_alerts_fired),
        payout_accounts=PayoutAccounts(PayoutAccountRepository(pool), clock),
        alerts=Alerts(stores.alerts, clock),
        collection=collect, payment_methods=methods,
        provider_webhooks=ProviderWebhooks(unit_of_work, providers, collect, methods, clock),
        webhook_endpoints=WebhookEndpoints(stores.webhook_endpoints, DnsResolver(), clock,
                                           s.webhook_allow_private_urls))
