"""`Meterflow` and `AsyncMeterflow`: one attribute per resource of the API, named after its path.

A new resource is one module under `resources/` and one line in `_Resources`; both clients get it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic

import httpx

from meterflow_client._operations import S
from meterflow_client._settings import api_key_from, base_url_from
from meterflow_client._transport import AsyncSender, SyncSender
from meterflow_client.async_buffer import AsyncEvents
from meterflow_client.buffer import SyncEvents
from meterflow_client.resources.alerts import Alerts
from meterflow_client.resources.customers import Customers
from meterflow_client.resources.invoices import Invoices
from meterflow_client.resources.metrics import Metrics
from meterflow_client.resources.payments import PaymentMethods, Payments
from meterflow_client.resources.payout_accounts import PayoutAccounts
from meterflow_client.resources.plans import Plans
from meterflow_client.resources.portal_tokens import PortalTokens
from meterflow_client.resources.reconciliation import Reconciliation
from meterflow_client.resources.subscriptions import Subscriptions
from meterflow_client.resources.usage import Usage
from meterflow_client.resources.wallets import Wallets
from meterflow_client.resources.webhook_endpoints import WebhookDeliveries, WebhookEndpoints
from meterflow_client.retries import RetryPolicy

DEFAULT_TIMEOUT_S = 60.0


class _Resources(Generic[S]):
    def __init__(self, sender: S) -> None:
        self.customers: Customers[S] = Customers(sender)
        self.metrics: Metrics[S] = Metrics(sender)
        self.plans: Plans[S] = Plans(sender)
        self.subscriptions: Subscriptions[S] = Subscriptions(sender)
        self.usage: Usage[S] = Usage(sender)
        self.reconciliation: Reconciliation[S] = Reconciliation(sender)
        self.invoices: Invoices[S] = Invoices(sender)
        self.webhook_endpoints: WebhookEndpoints[S] = WebhookEndpoints(sender)
        self.webhook_deliveries: WebhookDeliveries[S] = WebhookDeliveries(sender)
        self.payment_methods: PaymentMethods[S] = PaymentMethods(sender)
        self.payments: Payments[S] = Payments(sender)
        self.wallets: Wallets[S] = Wallets(sender)
        self.payout_accounts: PayoutAccounts[S] = PayoutAccounts(sender)
        self.alerts: Alerts[S] = Alerts(sender)
        self.portal_tokens: PortalTokens[S] = PortalTokens(sender)


class Meterflow(_Resources[SyncSender]):
    """The sync client. `api_key` and `base_url` default to `MF_API_KEY` and `MF_BASE_URL`. Each call is
    tried up to `max_retries` more times when it may succeed later (see `retries.RetryPolicy`); pass
    `retry_policy` to set the waits too, and `http_client` to bring your own `httpx.Client` (proxies,
    transports)."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, max_retries: int = 2,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry_policy: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout_s)
        sender = SyncSender(self._http, base_url_from(base_url), api_key_from(api_key),
                            retry_policy or RetryPolicy(max_retries))
        super().__init__(sender)
        self.events = SyncEvents(sender)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Meterflow:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class AsyncMeterflow(_Resources[AsyncSender]):
    """The async client: the same resources, each method awaitable, lists walked with `async for`."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, max_retries: int = 2,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry_policy: RetryPolicy | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout_s)
        sender = AsyncSender(self._http, base_url_from(base_url), api_key_from(api_key),
                             retry_policy or RetryPolicy(max_retries))
        super().__init__(sender)
        self.events = AsyncEvents(sender)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncMeterflow:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.aclose()
