"""Subscription use cases for the API: start one (the double-billing guard and the start allowance),
change its status (pause, resume, cancel now), cancel one at its period end.

The lifecycle rules are the domain's (`domain/catalog.py`); this module only loads, checks existence within
the mode, and stores, each change in one unit of work holding the row's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meterflow.application.ports.catalog import CustomersAndPlans
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.webhook_outbox import record_webhooks, subscription_changes
from meterflow.clock import Clock
from meterflow.domain.catalog import (
    StatusChange,
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
from meterflow.domain.start_allowance import billed_until, with_start_allowance

BILLING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)
EVERY_STATUS = (*BILLING, SubscriptionStatus.CANCELED)


@dataclass(frozen=True)
class Subscriptions:
    catalog: CustomersAndPlans
    unit_of_work: UnitOfWorkFactory
    clock: Clock
    org_id: str = field(kw_only=True)  # shown in the objects webhook events carry
    # How far before its start a first period bills usage: the clock-skew allowance.
    start_allowance: timedelta = field(kw_only=True, default=timedelta(minutes=5))

    async def start(self, mode: Mode, customer_id: str, plan_id: str, start: datetime | None) -> Subscription:
        """A NotFound naming the field when the customer or the plan is not in this mode; a Conflict when
        the customer's active or paused subscriptions already price one of the plan's metrics. The first
        period's reach back (the start allowance) stops where the customer's earlier subscriptions pricing
        the same metrics stopped billing, decided under the customer's lock."""
        customer = await self.catalog.customer(mode, customer_id)
        plan = await self.catalog.plan(mode, plan_id)
        if customer is None:
            raise NotFound("customer", customer_id, "customer_id")
        if plan is None:
            raise NotFound("plan", plan_id, "plan_id")
        subscription = start_subscription(new_id(IdKind.SUBSCRIPTION), customer, plan, start, self.clock.now())
        async with self.unit_of_work() as uow:
            await uow.subscriptions.lock_customer(mode, customer_id)
            others = await uow.subscriptions.active_subscriptions_of(mode, customer_id, EVERY_STATUS)
            plans = await self.catalog.plans_by_id(mode, {other.plan_id for other in others})
            billing = [plans[o.plan_id] for o in others if o.status in BILLING and o.plan_id in plans]
            if overlap := double_billed_metrics(plan, billing):
                raise Conflict("the customer already has an active subscription billing "
                               f"{', '.join(sorted(overlap))}: the same usage would be billed twice", "plan_id")
            ended = [end for o in others if o.plan_id in plans and double_billed_metrics(plan, [plans[o.plan_id]])
                     and (end := billed_until(o)) is not None]
            subscription = with_start_allowance(subscription, self.start_allowance, ended)
            await uow.subscriptions.add_subscription(subscription)
            await record_webhooks(uow.webhooks, self.org_id, subscription_changes([(None, subscription)]),
                                  self.clock.now())
            await uow.commit()
        return subscription

    async def change_status(self, mode: Mode, subscription_id: str, status: SubscriptionStatus) -> Subscription:
        """PATCH status: paused, active (resume) or canceled (now) at any time (docs/billing-periods.md): the
        periods a resume leaves behind uninvoiced are queued for the closer in the same transaction."""
        return await self._change(mode, subscription_id, lambda s, at: change_status(s, status, at))

    async def cancel(self, mode: Mode, subscription_id: str) -> Subscription:
        """Cancel at the end of the current period: that period is still invoiced, then it stops."""
        return await self._change(mode, subscription_id, lambda s, at: StatusChange(cancel_at_period_end(s, at)))

    async def _change(self, mode: Mode, subscription_id: str,
                      rule: Callable[[Subscription, datetime], StatusChange]) -> Subscription:
        async with self.unit_of_work() as uow:
            found = await uow.subscriptions.subscription(mode, subscription_id, lock=True)
            if found is None:
                raise NotFound("subscription", subscription_id)
            now = self.clock.now()
            change = rule(found, now)
            changed = change.subscription
            await uow.subscriptions.add_waiting_periods(found, change.waiting, now)
            await uow.subscriptions.save_lifecycle([changed])
            await record_webhooks(uow.webhooks, self.org_id, subscription_changes([(found, changed)]), now)
            await uow.commit()
        return changed
