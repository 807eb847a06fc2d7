"""What a request's handler is handed: the gateway's clients, adapters and use cases, built once per process by
the composition root (bootstrap.py) and read from the app's state (never built at import, nor per request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from fastapi import Request

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.alert_repository import AlertRepository
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.idempotency_repository import IdempotencyRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.replay_job_repository import ReplayJobRepository
from meterflow.adapters.request_rates import RequestRates
from meterflow.adapters.spool.spool import Spool
from meterflow.adapters.usage_store import UsageStore
from meterflow.adapters.webhook_delivery_repository import WebhookDeliveryRepository
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.accounting import Reconciliation
from meterflow.application.alerts import Alerts
from meterflow.application.catalog_changes import CatalogChanges
from meterflow.application.collection import Collection
from meterflow.application.console_customers import CustomerFiles
from meterflow.application.console_overview import ConsoleOverview
from meterflow.application.console_sessions import ConsoleSessions
from meterflow.application.customer_portal import CustomerPortal
from meterflow.application.exact_usage import ExactUsage
from meterflow.application.ingest import IngestBatch
from meterflow.application.invoices import Invoicing
from meterflow.application.payment_methods import PaymentMethods
from meterflow.application.payout_accounts import PayoutAccounts
from meterflow.application.portal_tokens import PortalTokens
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.provider_webhooks import ProviderWebhooks
from meterflow.application.subscriptions import Subscriptions
from meterflow.application.wallets import Wallets
from meterflow.application.webhook_endpoints import WebhookEndpoints
from meterflow.clock import Clock
from meterflow.domain.events import AcceptancePolicy
from meterflow.domain.modes import Mode
from meterflow.settings import Settings


@dataclass(frozen=True)
class GatewayUsage(ExactUsage):
    """Period figures to the second for the routes (usage, drafts), and the counter's early duplicate
    answer for ingest."""

    counter: UsageStore

    async def known_keys(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        return await self.counter.known_keys(mode, idempotency_keys)


@dataclass(frozen=True)
class GatewayContext:
    settings: Settings
    pool: Pool
    redis: RedisClient
    producer: AIOKafkaProducer
    clock: Clock
    spool: Spool | None  # None: MF_SPOOL_ENABLED=false, ingest publishes straight to Kafka
    catalog: CatalogRepository
    invoices: InvoiceRepository
    usage: GatewayUsage
    acknowledged: AcknowledgedKeys
    accounting: AccountingStore
    reconciliation: Reconciliation
    rates: RequestRates
    unit_of_work: UnitOfWorkFactory
    policy: AcceptancePolicy
    ingest: IngestBatch
    stores: Stores
    use_cases: UseCases
    pages: PageUseCases


@dataclass(frozen=True)
class Stores:
    """The repositories routes read (or hand to a use-case function) directly, one each for the process."""

    event_records: EventRecordRepository
    replay_jobs: ReplayJobRepository
    webhook_endpoints: WebhookEndpointRepository
    webhook_deliveries: WebhookDeliveryRepository
    alerts: AlertRepository
    idempotency: IdempotencyRepository


@dataclass(frozen=True)
class UseCases:
    """The use cases the routes call, each wired once for the process (they hold no request state)."""

    catalog_changes: CatalogChanges
    subscriptions: Subscriptions
    invoicing: Invoicing
    wallets: Wallets
    payout_accounts: PayoutAccounts
    alerts: Alerts
    collection: Collection
    payment_methods: PaymentMethods
    provider_webhooks: ProviderWebhooks
    webhook_endpoints: WebhookEndpoints


@dataclass(frozen=True)
class PageUseCases:
    """The use cases behind the portal and the console's pages."""

    portal_tokens: PortalTokens
    customer_portal: CustomerPortal
    customer_files: CustomerFiles
    console_overview: ConsoleOverview
    console_sessions: ConsoleSessions


def context_of(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.context
    return ctx


async def context(request: Request) -> GatewayContext:
    """The context as a route's dependency. A coroutine because FastAPI runs a plain function dependency
    in its thread pool: a thread hand-off (and the GIL passed back and forth) on every request for a
    read of the app's state."""
    return context_of(request)
