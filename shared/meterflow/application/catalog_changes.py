"""Updating and deleting customers, metrics and plans (docs/api.md), with the guards of
`domain/catalog_changes.py`: load within the mode (404), apply the rule, store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from meterflow.application.ports.catalog import CatalogStore
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.webhook_outbox import record_webhooks
from meterflow.clock import Clock
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice, SubscriptionStatus
from meterflow.domain.catalog_changes import changed, check_metric_change, check_plan_change, refuse_delete_in_use
from meterflow.domain.errors import NotFound
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import EventType


def _found(item: Any, kind: str, object_id: str) -> Any:
    if item is None:
        raise NotFound(kind, object_id)
    return item


@dataclass(frozen=True)
class CatalogChanges:
    catalog: CatalogStore
    clock: Clock
    # Customers are created and deleted in a unit of work, with the webhook event each reports.
    unit_of_work: UnitOfWorkFactory = field(kw_only=True)
    org_id: str = field(kw_only=True)

    async def create_customer(self, customer: Customer) -> Customer:
        """Raises UniqueViolation (the adapter's) when `external_id` exists in the mode."""
        async with self.unit_of_work() as uow:
            await uow.customers.add_customer(customer)
            await record_webhooks(uow.webhooks, self.org_id, [(EventType.CUSTOMER_CREATED, customer)],
                                  customer.created_at)
            await uow.commit()
        return customer

    async def update_customer(self, mode: Mode, customer_id: str, changes: Mapping[str, Any]) -> Customer:
        customer: Customer = _found(await self.catalog.customer(mode, customer_id), "customer", customer_id)
        updated = changed(customer, changes, self.clock.now())
        await self.catalog.update_customer(updated)
        return updated

    async def delete_customer(self, mode: Mode, customer_id: str) -> None:
        customer: Customer = _found(await self.catalog.customer(mode, customer_id), "customer", customer_id)
        billing = await self.catalog.active_subscriptions_of(
            mode, customer_id, (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED))
        now = self.clock.now()

        async def delete() -> bool:
            async with self.unit_of_work() as uow:
                if not await uow.customers.delete_customer(mode, customer_id, now):
                    return False
                deleted = replace(customer, updated_at=now)
                await record_webhooks(uow.webhooks, self.org_id, [(EventType.CUSTOMER_DELETED, deleted)], now)
                await uow.commit()
            return True

        await self._delete("customer", customer_id, "it has an active or paused subscription" if billing else None,
                           delete)

    async def update_metric(self, mode: Mode, metric_id: str, changes: Mapping[str, Any]) -> Metric:
        metric: Metric = _found(await self.catalog.metric(mode, metric_id), "metric", metric_id)
        check_metric_change(metric, changes, await self.catalog.metric_priced(metric_id))
        updated = changed(metric, changes, self.clock.now())
        await self.catalog.update_metric(updated)
        return updated

    async def delete_metric(self, mode: Mode, metric_id: str) -> None:
        _found(await self.catalog.metric(mode, metric_id), "metric", metric_id)
        in_use = await self.catalog.metric_priced(metric_id)
        await self._delete("metric", metric_id, "a price uses it" if in_use else None,
                           lambda: self.catalog.delete_metric(mode, metric_id, self.clock.now()))

    async def plan(self, mode: Mode, plan_id: str) -> Plan:
        found: Plan = _found(await self.catalog.plan(mode, plan_id), "plan", plan_id)
        return found

    async def update_plan(self, plan: Plan, changes: Mapping[str, Any],
                          prices: tuple[PlanPrice, ...] | None) -> Plan:
        check_plan_change(plan, changes, await self.catalog.plan_subscribed(plan.id))
        updated = changed(plan, changes, self.clock.now())
        updated = updated if prices is None else replace(updated, prices=prices)
        await self.catalog.update_plan(updated)
        return updated

    async def delete_plan(self, mode: Mode, plan_id: str) -> None:
        await self.plan(mode, plan_id)
        in_use = await self.catalog.plan_subscribed(plan_id)
        await self._delete("plan", plan_id, "a subscription uses it" if in_use else None,
                           lambda: self.catalog.delete_plan(mode, plan_id, self.clock.now()))

    @staticmethod
    async def _delete(kind: str, object_id: str, used_by: str | None, delete: Callable[[], Awaitable[bool]]) -> None:
        """Refuse while in use (409); the soft delete itself finds nothing if a concurrent one won (404)."""
        refuse_delete_in_use(kind, used_by)
        _found(await delete() or None, kind, object_id)
