"""A customer as ops see it in the console: everything the customer's own portal shows (subscriptions, each
current period's usage per metric in plot buckets with the amount accrued so far, invoices, wallets), read by
the portal's own use case, and what only ops see: the customer's alerts and the usage no period bills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from meterflow.application.customer_portal import CustomerPortal, PortalView
from meterflow.application.unbilled import Unbilled, UnbilledUsage
from meterflow.domain.alerts import Alert, AlertScope
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, whole_second

UNBILLED_WINDOW = timedelta(days=31)
MAX_ALERTS = 100


class AlertListing(Protocol):
    async def alerts(self, mode: Mode, filters: dict[str, str | None], limit: int, offset: int) -> list[Alert]: ...


@dataclass(frozen=True)
class CustomerFile:
    view: PortalView
    alerts: list[Alert]
    unbilled: list[Unbilled]
    unbilled_window: Period


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
        return CustomerFile(view, alerts, await self.unbilled.of_customer(mode, customer_id, window), window)
