"""The Python client of the meterflow API (and of Monigo's, where the wire is the same).

    from meterflow_client import Meterflow
    client = Meterflow()                      # MF_API_KEY, MF_BASE_URL
    customer = client.customers.create(external_id="acme", name="Acme")
"""

from meterflow_client import webhooks
from meterflow_client._batching import BufferClosed, BufferOptions, IngestFailed
from meterflow_client._client import AsyncMeterflow, Meterflow
from meterflow_client._models import APIObject, Deleted
from meterflow_client._pagination import AsyncPager, SyncPager
from meterflow_client.async_buffer import AsyncEventBuffer
from meterflow_client.buffer import EventBuffer
from meterflow_client.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    MeterflowError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from meterflow_client.resources.alerts import Alert, AlertList, AlertState, Threshold, ThresholdParams
from meterflow_client.resources.customers import Customer
from meterflow_client.resources.events import EventOnRecord, EventParams, IngestResult, RejectedEvent, ReplayJob
from meterflow_client.resources.invoices import Invoice, LineItem
from meterflow_client.resources.metrics import Metric
from meterflow_client.resources.payments import (
    PaymentMethod,
    PaymentMethodList,
    PaymentSetup,
    Transaction,
    TransactionList,
)
from meterflow_client.resources.payout_accounts import PayoutAccount, PayoutAccountList
from meterflow_client.resources.plans import Plan, Price, PriceParams, Tier, TierParams
from meterflow_client.resources.portal_tokens import PortalToken, RevokedPortalToken
from meterflow_client.resources.reconciliation import HourFigures, ReconciliationList
from meterflow_client.resources.subscriptions import Subscription
from meterflow_client.resources.usage import Rollup, UnbilledList, UnbilledSpan
from meterflow_client.resources.wallets import (
    LedgerEntry,
    VirtualAccount,
    VirtualAccountList,
    Wallet,
    WalletDetail,
    WalletMovement,
    WalletTransactions,
)
from meterflow_client.resources.webhook_endpoints import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from meterflow_client.retries import RetryPolicy

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIObject",
    "APIStatusError",
    "APITimeoutError",
    "Alert",
    "AlertList",
    "AlertState",
    "AsyncEventBuffer",
    "AsyncMeterflow",
    "AsyncPager",
    "AuthenticationError",
    "BufferClosed",
    "BufferOptions",
    "ConflictError",
    "Customer",
    "Deleted",
    "DeliveryAttempt",
    "EventBuffer",
    "EventOnRecord",
    "EventParams",
    "HourFigures",
    "IdempotencyError",
    "IngestFailed",
    "IngestResult",
    "InvalidRequestError",
    "Invoice",
    "LedgerEntry",
    "LineItem",
    "Meterflow",
    "MeterflowError",
    "Metric",
    "NotFoundError",
    "PaymentMethod",
    "PaymentMethodList",
    "PaymentSetup",
    "PayoutAccount",
    "PayoutAccountList",
    "PermissionDeniedError",
    "Plan",
    "PortalToken",
    "Price",
    "PriceParams",
    "RateLimitError",
    "ReconciliationList",
    "RejectedEvent",
    "ReplayJob",
    "RetryPolicy",
    "RevokedPortalToken",
    "Rollup",
    "Subscription",
    "SyncPager",
    "Threshold",
    "ThresholdParams",
    "Tier",
    "TierParams",
    "Transaction",
    "TransactionList",
    "UnbilledList",
    "UnbilledSpan",
    "VirtualAccount",
    "VirtualAccountList",
    "Wallet",
    "WalletDetail",
    "WalletMovement",
    "WalletTransactions",
    "WebhookDelivery",
    "WebhookEndpoint",
    "webhooks",
]
