"""A customer as ops see it in the console: everything the customer's own portal shows (subscriptions, each
current period's usage per metric in plot buckets with the amount accrued so far, invoices, wallets), read by
the portal's own use case, the usage of past periods as their invoices bill it, and what only ops see: the
customer's alerts and the usage no period bills."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from meterflow.application.customer_portal import CustomerPortal, PortalView
from meterflow.application.ports.console import AlertListing
from meterflow.application.unbilled import Unbilled, UnbilledUsage
from meterflow.domain.alerts import Alert, AlertScope
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, whole_second

UNBILLED_WINDOW = timedelta(days=31)
MAX_ALERTS = 100


@dataclass(frozen=True)
class PastUsage:
    """One metric's billed quantity in each past period the customer's invoices (not void) bill, oldest first:
    what the invoices say, not a recount."""

    metric_id: str
    periods: list[Period]
    quantities: list[Decimal]


@dataclass(frozen=True)
class CustomerFile:
    view: PortalView
    past: list[PastUsage]
    alerts: list[Alert]
    unbilled: list[Unbilled]
    unbilled_window: Period


def past_usage(invoices: Sequence[Invoice], now: datetime) -> list[PastUsage]:
    """Per metric, the quantity of its lines in each invoice of a period that has ended (several lines of one
    metric in an invoice, one per price, bill the same quantity: the first is taken)."""
    ended = sorted((i for i in invoices if i.status is not InvoiceStatus.VOID and i.period.end <= now),
                   key=lambda i: i.period.start)
    per_metric: dict[str, PastUsage] = {}
    for invoice in ended:
        for metric_id in dict.fromkeys(line.metric_id for line in invoice.lines):
            quantity = next(line.quantity for line in invoice.lines if line.metric_id == metric_id)
            past = per_metric.setdefault(metric_id, PastUsage(metric_id, [], []))
            past.periods.append(invoice.period)
            past.quantities.append(quantity)
    return list(per_metric.values())


@dataclass(frozen=True)
class CustomerFiles:
    portal: CustomerPortal
    alerts: AlertListing
    unbilled: UnbilledUsage

    async def __call__(self, mode: Mode, customer_id: str) -> CustomerFile | None:
        view = await self.portal.view(mode, customer_id)
        if view is None:
            return None
        alerts = await self.alerts.alerts(mode, {"scope": AlertScope.CUSTOMER.value, "scope_id": customer_id},
                                          MAX_ALERTS, 0)
        now = whole_second(view.now)
        window = Period(now - UNBILLED_WINDOW, now)
        return CustomerFile(view, past_usage(view.invoices, view.now), alerts,
                            await self.unbilled.of_customer(mode, customer_id, window), window)
