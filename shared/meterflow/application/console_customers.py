"""A customer as ops see it in the console: subscriptions, the usage of each priced metric over the current
period (in plot buckets), invoices, wallets, alerts and the usage no period bills. Each part is read where it
is kept, through the readers the API uses; the figures come from the one usage reader every figure goes
through, so a plot says what an invoice of that span would bill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Protocol, TypedDict

from meterflow.application.invoicing import billed_quantity
from meterflow.application.ports import UsageReader
from meterflow.application.unbilled import EVERY_STATUS, Unbilled, UnbilledUsage
from meterflow.clock import Clock
from meterflow.domain.alerts import Alert, AlertScope
from meterflow.domain.catalog import Customer, Metric, Plan, Subscription
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, whole_second
from meterflow.domain.usage import UsageQuery
from meterflow.domain.usage_buckets import usage_buckets
from meterflow.domain.wallets import Wallet

UNBILLED_WINDOW = timedelta(days=31)
MAX_INVOICES = 50
MAX_ITEMS = 100


class CustomerRecords(Protocol):
    async def customer(self, mode: Mode, customer_id: str) -> Customer | None: ...

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = ...) -> list[Subscription]: ...

    async def plans_by_id(self, mode: Mode, ids: Sequence[str] | set[str]) -> dict[str, Plan]: ...

    async def metrics_by_id(self, mode: Mode, ids: Sequence[str] | set[str]) -> dict[str, Metric]: ...


class InvoiceFilters(TypedDict, total=False):
    customer_id: str | None
    subscription_id: str | None
    status: str | None


class InvoiceListing(Protocol):
    async def invoices(self, mode: Mode, limit: int, starting_after: str | None,
                       filters: InvoiceFilters | None = None) -> tuple[list[Invoice], bool]: ...


class WalletListing(Protocol):
    async def wallets(self, mode: Mode, customer_id: str | None, limit: int,
                      starting_after: str | None) -> tuple[list[Wallet], bool]: ...


class AlertListing(Protocol):
    async def alerts(self, mode: Mode, filters: dict[str, str | None], limit: int, offset: int) -> list[Alert]: ...


@dataclass(frozen=True)
class MetricSeries:
    """One metric's usage in one subscription's current period, bucket by bucket, and over the period."""

    subscription: Subscription
    metric: Metric
    buckets: list[Period]
    values: list[Decimal]
    total: Decimal


@dataclass(frozen=True)
class CustomerFile:
    customer: Customer
    subscriptions: list[Subscription]
    plans: dict[str, Plan]
    usage: list[MetricSeries]
    invoices: list[Invoice]
    wallets: list[Wallet]
    alerts: list[Alert]
    unbilled: list[Unbilled]
    unbilled_window: Period


@dataclass(frozen=True)
class CustomerFiles:
    records: CustomerRecords
    usage: UsageReader
    invoices: InvoiceListing
    wallets: WalletListing
    alerts: AlertListing
    unbilled: UnbilledUsage
    clock: Clock

    async def __call__(self, mode: Mode, customer_id: str) -> CustomerFile | None:
        customer = await self.records.customer(mode, customer_id)
        if customer is None:
            return None
        subscriptions = await self.records.active_subscriptions_of(mode, customer_id, EVERY_STATUS)
        plans = await self.records.plans_by_id(mode, {s.plan_id for s in subscriptions})
        invoices, _ = await self.invoices.invoices(mode, MAX_INVOICES, None, {"customer_id": customer_id})
        wallets, _ = await self.wallets.wallets(mode, customer_id, MAX_ITEMS, None)
        alerts = await self.alerts.alerts(mode, {"scope": AlertScope.CUSTOMER.value, "scope_id": customer_id},
                                          MAX_ITEMS, 0)
        now = whole_second(self.clock.now())
        window = Period(now - UNBILLED_WINDOW, now)
        return CustomerFile(customer, subscriptions, plans, await self.series(mode, customer_id, subscriptions, plans),
                            invoices, wallets, alerts, await self.unbilled.of_customer(mode, customer_id, window),
                            window)

    async def series(self, mode: Mode, customer_id: str, subscriptions: Sequence[Subscription],
                     plans: dict[str, Plan]) -> list[MetricSeries]:
        """Every priced metric of every subscription that bills, over its current period, in one usage read."""
        now = self.clock.now()
        wanted = [(s, price.metric_id) for s in subscriptions if s.bills and s.plan_id in plans
                  for price in plans[s.plan_id].prices if price.metric_id]
        metrics = await self.records.metrics_by_id(mode, {metric_id for _, metric_id in wanted})
        asked = [(s, metrics[m], usage_buckets(s.current_period, now)) for s, m in wanted if m in metrics]
        queries = [UsageQuery(mode, metric.id, customer_id, p) for s, metric, buckets in asked
                   for p in [s.current_period, *buckets]]
        figures = iter(await self.usage.usage(queries))
        series = []
        for s, metric, buckets in asked:
            total = billed_quantity(metric, next(figures))
            values = [billed_quantity(metric, next(figures)) for _ in buckets]
            series.append(MetricSeries(s, metric, buckets, values, total))
        return series
