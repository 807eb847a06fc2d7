"""Billing handlers: usage → quantities → invoices, wired to the ports they read.

`compute_invoices` is the one path from rollups to invoices; a draft (the API, one subscription) and a
period close (the closer, thousands at once) both call it, so a draft shows exactly what the close
will bill for the same usage: each period's usage over its `billed_range` (the first period reaches back
by the start allowance). It batches: one catalog read per mode and one Redis round trip in all.

`write_invoices` is the one path from computed invoices to the invoices table, for drafts, period close
and re-invoicing alike: the domain decides per period (insert, write over the open draft, already
invoiced) and the unique index on live invoices settles any race.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from meterflow.application.ports.unit_of_work import InvoiceStore
from meterflow.application.ports.usage import CatalogReader, UsageReader
from meterflow.domain.catalog import Metric, Plan, Subscription
from meterflow.domain.errors import Conflict
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import Invoice, InvoiceStatus, plan_write, rate
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import quantity
from meterflow.domain.start_allowance import billed_range
from meterflow.domain.usage import PeriodUsage, UsageQuery


def billed_quantity(metric: Metric, figure: PeriodUsage) -> Decimal:
    return quantity(metric.aggregation, figure.rollup, figure.distinct_values)


async def metric_usage(usage: UsageReader, customer_id: str, metrics: Sequence[Metric],
                       period: Period) -> list[PeriodUsage]:
    return await usage.usage([UsageQuery(m.mode, m.id, customer_id, period) for m in metrics], known=metrics)


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
    queries = [UsageQuery(s.mode, price.metric_id, s.customer_id, billed_range(s, period))
               for s, period in items for price in plans[s.plan_id].prices]
    figures = iter(await usage.usage(queries, known=list(metrics.values())))
    invoices = []
    for subscription, period in items:
        plan = plans[subscription.plan_id]
        quantities = {p.metric_id: billed_quantity(metrics[p.metric_id], next(figures)) for p in plan.prices}
        rating = rate(plan, quantities, {m: metrics[m].name for m in quantities})
        invoices.append(Invoice(
            id=new_id(IdKind.INVOICE), mode=subscription.mode, customer_id=subscription.customer_id,
            subscription_id=subscription.id, status=status, currency=plan.currency, period=period,
            lines=rating.lines, subtotal=rating.subtotal, total=rating.total, created_at=now,
            finalized_at=now if status is InvoiceStatus.FINALIZED else None, vat_rate=rating.vat_rate,
            vat_amount=rating.vat_amount,
        ))
    return invoices


# A lost race is settled in the next round: the concurrent writer has committed by then (the unique index
# made our insert wait for it), so its invoice is found and planned for. More rounds mean a void/insert
# storm on one period, which is an error worth reporting rather than a loop.
_WRITE_ROUNDS = 3


@dataclass
class Written:
    invoices: list[Invoice] = field(default_factory=list)  # as stored: an overwritten draft keeps its id
    already_invoiced: list[Invoice] = field(default_factory=list)  # the period's finalized invoice
    created: list[Invoice] = field(default_factory=list)  # inserted (not an overwritten draft)


async def write_invoices(store: InvoiceStore, computed: Sequence[Invoice], at: datetime) -> Written:
    """Write computed invoices in batches; call inside a unit of work (the live invoices are locked)."""
    written, pending = Written(), list(computed)
    for _ in range(_WRITE_ROUNDS):
        live = await store.live_invoices([i.period_key for i in pending], lock=True)
        fresh: list[Invoice] = []
        drafts: list[Invoice] = []
        for invoice in pending:
            write = plan_write(invoice, live.get(invoice.period_key))
            if write is None:
                written.already_invoiced.append(live[invoice.period_key])
            else:
                (drafts if write.replaces_draft else fresh).append(write.invoice)
        await store.replace_drafts(drafts, at)
        inserted = await store.insert(fresh)
        written.invoices += drafts + [i for i in fresh if i.id in inserted]
        written.created += [i for i in fresh if i.id in inserted]
        pending = [i for i in fresh if i.id not in inserted]
        if not pending:
            return written
    raise Conflict(f"the period of invoice {pending[0].id} kept changing while it was written; try again")
