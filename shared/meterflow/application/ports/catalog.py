"""The catalog ports of the catalog, subscription, events-on-record and unbilled use cases."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from meterflow.application.ports.usage import CatalogReader
from meterflow.domain.catalog import (
    Customer,
    Metric,
    Plan,
    Subscription,
)
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period


class CatalogStore(Protocol):
    async def customer(self, mode: Mode, customer_id: str) -> Customer | None: ...

    async def update_customer(self, c: Customer) -> None: ...

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = ...) -> list[Subscription]: ...

    async def metric(self, mode: Mode, metric_id: str) -> Metric | None: ...

    async def add_metric(self, metric: Metric) -> None: ...

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]: ...

    async def update_metric(self, m: Metric) -> None: ...

    async def metric_priced(self, metric_id: str) -> bool: ...

    async def delete_metric(self, mode: Mode, metric_id: str, at: datetime) -> bool: ...

    async def plan(self, mode: Mode, plan_id: str) -> Plan | None: ...

    async def add_plan(self, plan: Plan) -> None: ...

    async def update_plan(self, plan: Plan) -> None: ...

    async def plan_subscribed(self, plan_id: str) -> bool: ...

    async def delete_plan(self, mode: Mode, plan_id: str, at: datetime) -> bool: ...


class InvoiceCatalog(CatalogReader, Protocol):
    """The catalog an invoice is read back with: its metrics, and its subscription (the billed range)."""

    async def subscription(self, mode: Mode, subscription_id: str) -> Subscription | None: ...


class CustomersAndPlans(Protocol):
    """What starting a subscription reads from the catalog, within one mode (absent: None)."""

    async def customer(self, mode: Mode, customer_id: str) -> Customer | None: ...

    async def plan(self, mode: Mode, plan_id: str) -> Plan | None: ...

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]: ...


class BillingRecords(CatalogReader, Protocol):
    """What unbilled usage reads: the catalog, a customer's subscriptions and the periods that ended."""

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = ...) -> list[Subscription]: ...

    async def metrics(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Metric], bool]: ...

    async def ended_periods(self, mode: Mode, subscription_ids: Collection[str]) -> dict[str, list[Period]]: ...
