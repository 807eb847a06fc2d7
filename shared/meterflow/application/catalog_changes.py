"""Creating, updating and deleting customers, metrics and plans (docs/api.md): build the domain object, or load it
within the mode (404) and apply the guards of `domain/catalog_changes.py`, then store. A plan's prices are checked
by `domain/plan_prices.py` against the metrics of its mode, read here in one call. The routes only translate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from meterflow.application.ports.catalog import CatalogStore
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.webhook_outbox import record_webhooks
from meterflow.clock import Clock
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice, SubscriptionStatus
from meterflow.domain.catalog_changes import changed, check_metric_change, check_plan_change, refuse_delete_in_use
from meterflow.domain.errors import NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.metric_definitions import aggregation_property_of
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval
from meterflow.domain.plan_prices import checked_prices, merged_items, metric_ids_named
from meterflow.domain.rollups import Aggregation
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

    async def create_customer(self, mode: Mode, *, external_id: str, name: str, email: str | None,
                              phone: str | None, metadata: dict[str, Any]) -> Customer:
        """Conflict naming `external_id` when the mode has a live customer with it (the unique index decides)."""
        customer = Customer(new_id(IdKind.CUSTOMER), mode, external_id, name, email, metadata, self.clock.now(), phone)
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

    async def create_metric(self, mode: Mode, *, name: str, event_name: str, aggregation: Aggregation,
                            aggregation_property: str | None, description: str | None) -> Metric:
        metric = Metric(new_id(IdKind.METRIC), mode, name, event_name, aggregation,
                        aggregation_property_of(aggregation, aggregation_property), description, self.clock.now())
        await self.catalog.add_metric(metric)
        return metric

    async def update_metric(self, mode: Mode, metric_id: str, changes: Mapping[str, Any]) -> Metric:
        """The fields given change; a new aggregation, or a new property, is checked with the other one
        as it will be (the property a `count` would read is dropped)."""
        metric: Metric = _found(await self.catalog.metric(mode, metric_id), "metric", metric_id)
        if "aggregation" in changes or "aggregation_property" in changes:
            aggregation = changes.get("aggregation", metric.aggregation)
            prop = changes.get("aggregation_property", metric.aggregation_property)
            changes = {**changes, "aggregation_property": aggregation_property_of(aggregation, prop)}
        check_metric_change(metric, changes, await self.catalog.metric_priced(metric_id))
        updated = changed(metric, changes, self.clock.now())
        await self.catalog.update_metric(updated)
        return updated

    async def delete_metric(self, mode: Mode, metric_id: str) -> None:
        _found(await self.catalog.metric(mode, metric_id), "metric", metric_id)
        in_use = await self.catalog.metric_priced(metric_id)
        await self._delete("metric", metric_id, "a price uses it" if in_use else None,
                           lambda: self.catalog.delete_metric(mode, metric_id, self.clock.now()))

    async def create_plan(self, mode: Mode, *, name: str, description: str | None, currency: str,
                          plan_type: str, billing_period: BillingInterval, trial_period_days: int, vat_rate: Decimal,
                          prices: Sequence[Mapping[str, Any]]) -> Plan:
        plan = Plan(new_id(IdKind.PLAN), mode, name, description, currency, plan_type, billing_period,
                    await self._prices(mode, prices, ()), self.clock.now(), trial_period_days, vat_rate)
        await self.catalog.add_plan(plan)
        return plan

    async def update_plan(self, mode: Mode, plan_id: str, changes: Mapping[str, Any],
                          prices: Sequence[Mapping[str, Any]] | None) -> Plan:
        """The fields given change; `prices` (when given) update the plan's prices they name by `id` and
        add the others, and the prices not named stay."""
        plan: Plan = _found(await self.catalog.plan(mode, plan_id), "plan", plan_id)
        checked = None if prices is None else await self._prices(mode, prices, plan.prices)
        check_plan_change(plan, changes, await self.catalog.plan_subscribed(plan.id))
        updated = changed(plan, changes, self.clock.now())
        updated = updated if checked is None else replace(updated, prices=checked)
        await self.catalog.update_plan(updated)
        return updated

    async def delete_plan(self, mode: Mode, plan_id: str) -> None:
        _found(await self.catalog.plan(mode, plan_id), "plan", plan_id)
        in_use = await self.catalog.plan_subscribed(plan_id)
        await self._delete("plan", plan_id, "a subscription uses it" if in_use else None,
                           lambda: self.catalog.delete_plan(mode, plan_id, self.clock.now()))

    async def _prices(self, mode: Mode, raw: Sequence[Mapping[str, Any]],
                      existing: Sequence[PlanPrice]) -> tuple[PlanPrice, ...]:
        items = merged_items(raw, existing)
        known = await self.catalog.metrics_by_id(mode, metric_ids_named(items))
        return checked_prices(items, mode, known.keys(), existing)

    @staticmethod
    async def _delete(kind: str, object_id: str, used_by: str | None, delete: Callable[[], Awaitable[bool]]) -> None:
        """Refuse while in use (409); the soft delete itself finds nothing if a concurrent one won (404)."""
        refuse_delete_in_use(kind, used_by)
        _found(await delete() or None, kind, object_id)
