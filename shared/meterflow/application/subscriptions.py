"""Subscription use cases for the API: start one (the double-billing guard), change its status (pause,
resume, cancel now), cancel one at its period end.

The lifecycle rules are the domain's (`domain/catalog.py`); this module only loads, checks existence within
the mode, and stores, each change in one unit of work holding the row's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from meterflow.application.unit_of_work import UnitOfWorkFactory
from meterflow.application.webhook_outbox import record_webhooks, subscription_changes
from meterflow.clock import Clock
from meterflow.domain.catalog import (
    Customer,
    Plan,
    Subscription,
    SubscriptionStatus,
    cancel_at_period_end,
    change_status,
    double_billed_metrics,
    start_subscription,
)
from meterflow.domain.errors import Conflict, NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode

BILLING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)


class CustomersAndPlans(Protocol):
    """What starting a subscription reads from the catalog, within one mode (absent: None)."""

    async def customer(self, mode: Mode, customer_id: str) -> Customer | None: ...

    async def plan(self, mode: Mode, plan_id: str) -> Plan | None: ...

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]: ...


@dataclass(frozen=True)
class Subscriptions:
    catalog: CustomersAndPlans
    unit_of_work: UnitOfWorkFactory
    clock: Clock
    org_id: str = field(kw_only=True)  # shown in the objects webhook events carry

    async def start(self, mode: Mode, customer_id: str, plan_id: str, start: datetime | None) -> Subscription:
        """A NotFound naming the field when the customer or the plan is not in this mode; a Conflict when
        the customer's active or paused subscriptions already price one of the plan's metrics."""
        customer = await self.catalog.customer(mode, customer_id)
        plan = await self.catalog.plan(mode, plan_id)
        if customer is None:
            raise NotFound("customer", customer_id, "customer_id")
        if plan is None:
            raise NotFound("plan", plan_id, "plan_id")
        subscription = start_subscription(new_id(IdKind.SUBSCRIPTION), customer, plan, start, self.clock.now())
        async with self.unit_of_work() as uow:
            await uow.subscriptions.lock_customer(mode, customer_id)
            others = await uow.subscriptions.active_subscriptions_of(mode, customer_id, BILLING)
            plans = await self.catalog.plans_by_id(mode, [other.plan_id for other in others])
            if overlap := double_billed_metrics(plan, list(plans.values())):
                raise Conflict("the customer already has an active subscription billing "
                               f"{', '.join(sorted(overlap))}: the same usage would be billed twice", "plan_id")
            await uow.subscriptions.add_subscription(subscription)
            await record_webhooks(uow.webhooks, self.org_id, subscription_changes([(None, subscription)]),
                                  self.clock.now())
            await uow.commit()
        return subscription

    async def change_status(self, mode: Mode, subscription_id: str, status: str) -> Subscription:
        """PATCH status: paused, active (resume) or canceled (now) (docs/billing.md, "Periods and the subscription
        lifecycle")."""
        return await self._change(mode, subscription_id, lambda s, at: change_status(s, status, at))

    async def cancel(self, mode: Mode, subscription_id: str) -> Subscription:
        """Cancel at the end of the current period: that period is still invoiced, then it stops."""
        return await self._change(mode, subscription_id, cancel_at_period_end)

    async def _change(self, mode: Mode, subscription_id: str,
                      rule: Callable[[Subscription, datetime], Subscription]) -> Subscription:
        async with self.unit_of_work() as uow:
            found = await uow.subscriptions.subscription(mode, subscription_id, lock=True)
            if found is None:
                raise NotFound("subscription", subscription_id)
            now = self.clock.now()
            changed = rule(found, now)
            await uow.subscriptions.save_lifecycle([changed])
            await record_webhooks(uow.webhooks, self.org_id, subscription_changes([(found, changed)]), now)
            await uow.commit()
        return changed
