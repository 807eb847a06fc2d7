"""What a customer sees in their portal (docs/portal.md), read for one customer in one mode: each
subscription's current period with its usage per metric in plot buckets and the amount accrued so far,
their invoices, their wallets with recent movements.

The accrued amount is the draft's computation (`compute_invoices`, which period close uses too), run
without writing: the portal is read-only, and a customer opening it must not create or refresh a draft.
Every usage figure, the buckets' and the accrued one's, goes through the same usage reader as invoices.
The customer and mode come from the token alone; no read here takes an id a visitor typed without
checking it belongs to them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from meterflow.application.invoicing import billed_quantity, compute_invoices
from meterflow.application.ports.portal import CustomerInvoices, CustomerWallets, PortalCatalog
from meterflow.application.ports.usage import UsageReader
from meterflow.application.unbilled import EVERY_STATUS
from meterflow.clock import Clock
from meterflow.domain.catalog import Customer, Metric, Plan, Subscription
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.start_allowance import billed_range
from meterflow.domain.usage import UsageQuery
from meterflow.domain.usage_buckets import bucket_size, usage_buckets
from meterflow.domain.wallets import LedgerEntry, Wallet

RECENT_INVOICES = 24
WALLETS_SHOWN = 20
RECENT_MOVEMENTS = 20


@dataclass(frozen=True)
class MetricUsage:
    """One metric's usage over the period so far: a figure per bucket and the quantity billed."""

    metric: Metric
    buckets: list[Period]
    figures: list[Decimal]
    billed: Decimal


@dataclass(frozen=True)
class CurrentPeriod:
    subscription: Subscription
    plan: Plan
    period: Period
    bucket_size: timedelta  # of its plots: an hour or a day
    usage: list[MetricUsage]
    accrued: Invoice  # computed now, never written


@dataclass(frozen=True)
class WalletActivity:
    wallet: Wallet
    movements: list[LedgerEntry]


@dataclass(frozen=True)
class PortalView:
    now: datetime  # the instant the figures were read at
    customer: Customer
    subscriptions: list[Subscription]
    plans: dict[str, Plan]
    current: list[CurrentPeriod]
    invoices: list[Invoice]
    wallets: list[WalletActivity]


@dataclass(frozen=True)
class CustomerPortal:
    catalog: PortalCatalog
    usage: UsageReader
    invoices: CustomerInvoices
    wallets: CustomerWallets
    clock: Clock

    async def view(self, mode: Mode, customer_id: str) -> PortalView | None:
        """None when the customer is gone (deleted since the token was made)."""
        customer = await self.catalog.customer(mode, customer_id)
        if customer is None:
            return None
        subscriptions = await self.catalog.active_subscriptions_of(mode, customer_id, EVERY_STATUS)
        plans = await self.catalog.plans_by_id(mode, {s.plan_id for s in subscriptions})
        now = self.clock.now()
        current, invoices, wallets = await asyncio.gather(
            self._current(mode, [s for s in subscriptions if s.bills and s.plan_id in plans], plans, now),
            self.invoices.of_customer(mode, customer_id, RECENT_INVOICES), self._wallets(mode, customer_id))
        return PortalView(now, customer, subscriptions, plans, current, invoices, wallets)

    async def invoice(self, mode: Mode, customer_id: str, invoice_id: str) -> Invoice | None:
        """The invoice if it is this customer's, in this mode; None for any other id (the answer does not
        tell another customer's invoice from one that does not exist)."""
        found = await self.invoices.invoice(mode, invoice_id)
        return found if found is not None and found.customer_id == customer_id else None

    async def _current(self, mode: Mode, subscriptions: list[Subscription], plans: dict[str, Plan],
                       now: datetime) -> list[CurrentPeriod]:
        if not subscriptions:
            return []
        periods = [(s, s.open_period(now)) for s in subscriptions]
        metrics = await self.catalog.metrics_by_id(
            mode, {p.metric_id for s in subscriptions for p in plans[s.plan_id].prices})
        priced = {s.id: [metrics[m] for m in _metric_ids(plans[s.plan_id]) if m in metrics] for s in subscriptions}
        asked = [(s, metric, bucket) for s, period in periods for metric in priced[s.id]
                 for bucket in usage_buckets(billed_range(s, period), now, bucket_size(period))]
        accrued, figures = await asyncio.gather(
            compute_invoices(self.catalog, self.usage, periods, now, InvoiceStatus.DRAFT),
            self.usage.usage([UsageQuery(mode, m.id, s.customer_id, bucket) for s, m, bucket in asked]))
        plotted: dict[tuple[str, str], tuple[list[Period], list[Decimal]]] = {}
        for (s, metric, bucket), figure in zip(asked, figures, strict=True):
            buckets, values = plotted.setdefault((s.id, metric.id), ([], []))
            buckets.append(bucket)
            values.append(billed_quantity(metric, figure))
        return [CurrentPeriod(s, plans[s.plan_id], period, bucket_size(period),
                              [_metric_usage(m, plotted.get((s.id, m.id), ([], [])), invoice) for m in priced[s.id]],
                              invoice)
                for (s, period), invoice in zip(periods, accrued, strict=True)]

    async def _wallets(self, mode: Mode, customer_id: str) -> list[WalletActivity]:
        wallets, _ = await self.wallets.wallets(mode, customer_id, WALLETS_SHOWN, None)
        entries = [await self.wallets.entries(mode, w.id, RECENT_MOVEMENTS, 0) for w in wallets]
        return [WalletActivity(w, found) for w, (found, _) in zip(wallets, entries, strict=True)]


def _metric_ids(plan: Plan) -> list[str]:
    """Each metric the plan prices, once, in the order of its prices."""
    return list(dict.fromkeys(p.metric_id for p in plan.prices))


def _metric_usage(metric: Metric, plotted: tuple[list[Period], list[Decimal]], accrued: Invoice) -> MetricUsage:
    billed = next((line.quantity for line in accrued.lines if line.metric_id == metric.id), Decimal(0))
    return MetricUsage(metric, *plotted, billed)
