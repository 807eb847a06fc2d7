"""What a request's handler is handed: the gateway's clients, adapters and use cases, built once per process by
the composition root (bootstrap.py) and read from the app's state (never built at import, nor per request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from fastapi import Request

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.acknowledged_keys import AcknowledgedKeys
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.request_rates import RequestRates
from meterflow.adapters.spool.spool import Spool
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.accounting import Reconciliation
from meterflow.application.alerts import Alerts
from meterflow.application.catalog_changes import CatalogChanges
from meterflow.application.collection import Collection
from meterflow.application.exact_usage import ExactUsage
from meterflow.application.ingest import IngestBatch
from meterflow.application.invoices import Invoicing
from meterflow.application.payment_methods import PaymentMethods
from meterflow.application.payout_accounts import PayoutAccounts
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
    use_cases: UseCases


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


def context_of(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.context
    return ctx


async def context(request: Request) -> GatewayContext:
    """The context as a route's dependency. A coroutine because FastAPI runs a plain function dependency
    in its thread pool: a thread hand-off (and the GIL passed back and forth) on every request for a
    read of the app's state."""
    return context_of(request)
