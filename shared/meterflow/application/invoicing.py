"""Billing handlers: usage → quantities → invoices, wired to the ports they read.

`compute_invoices` is the one path from rollups to invoices; a draft (the API, one subscription) and a
period close (the closer, thousands at once) both call it, so a draft shows exactly what the close
will bill for the same usage. It batches: one catalog read per mode and one Redis round trip in all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from meterflow.application.ports import CatalogReader, UsageReader
from meterflow.domain.catalog import Metric, Plan, Subscription
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus, rate
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import quantity
from meterflow.domain.usage import PeriodUsage, UsageQuery


def billed_quantity(metric: Metric, figure: PeriodUsage) -> Decimal:
    return quantity(metric.aggregation, figure.rollup, figure.distinct_values)


async def metric_usage(usage: UsageReader, customer_id: str, metrics: Sequence[Metric],
                       period: Period) -> list[PeriodUsage]:
    return await usage.usage([UsageQuery(m.mode, m.id, customer_id, period) for m in metrics])


async def _catalog_for(catalog: CatalogReader, subscriptions: Sequence[Subscription]) -> tuple[
        dict[str, Plan], dict[str, Metric]]:
    plans: dict[str, Plan] = {}
    metrics: dict[str, Metric] = {}
    by_mode: dict[Mode, set[str]] = defaultdict(set)
    for s in subscriptions:
        by_mode[s.mode].add(s.plan_id)
    for mode, plan_ids in by_mode.items():
        found = await catalog.plans_by_id(mode, plan_ids)
        plans |= found
        metrics |= await catalog.metrics_by_id(mode, {p.metric_id for plan in found.values() for p in plan.prices})
    return plans, metrics


async def compute_invoices(catalog: CatalogReader, usage: UsageReader,
                           items: Sequence[tuple[Subscription, Period]], now: datetime,
                           status: InvoiceStatus) -> list[Invoice]:
    plans, metrics = await _catalog_for(catalog, [s for s, _ in items])
    queries = [UsageQuery(s.mode, price.metric_id, s.customer_id, period)
               for s, period in items for price in plans[s.plan_id].prices]
    figures = iter(await usage.usage(queries))
    invoices = []
    for subscription, period in items:
        plan = plans[subscription.plan_id]
        quantities = {p.metric_id: billed_quantity(metrics[p.metric_id], next(figures)) for p in plan.prices}
        rating = rate(plan, quantities, {m: metrics[m].name for m in quantities})
        invoices.append(Invoice(
            id=new_id(IdKind.INVOICE), mode=subscription.mode, customer_id=subscription.customer_id,
            subscription_id=subscription.id, status=status, currency=plan.currency, period=period,
            lines=rating.lines, subtotal=rating.subtotal, total=rating.total, created_at=now,
            finalized_at=now if status is InvoiceStatus.FINALIZED else None,
        ))
    return invoices
