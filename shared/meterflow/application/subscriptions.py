"""Subscription use cases for the API: start one with its first period, cancel one at its period end.

The lifecycle rules are the domain's (`start_subscription`, `cancel_at_period_end`, and `advance`, which
period close applies); this module only loads, checks existence within the mode, and stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from meterflow.application.unit_of_work import UnitOfWorkFactory
from meterflow.clock import Clock
from meterflow.domain.catalog import Customer, Plan, Subscription, cancel_at_period_end, start_subscription
from meterflow.domain.errors import NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode


class CustomersAndPlans(Protocol):
    """What starting a subscription reads from the catalog, within one mode (absent: None)."""

    async def customer(self, mode: Mode, customer_id: str) -> Customer | None: ...

    async def plan(self, mode: Mode, plan_id: str) -> Plan | None: ...


@dataclass(frozen=True)
class Subscriptions:
    catalog: CustomersAndPlans
    unit_of_work: UnitOfWorkFactory
    clock: Clock

    async def start(self, mode: Mode, customer_id: str, plan_id: str, start: datetime | None) -> Subscription:
        """A NotFound naming the field when the customer or the plan is not in this mode."""
        customer = await self.catalog.customer(mode, customer_id)
        plan = await self.catalog.plan(mode, plan_id)
        if customer is None:
            raise NotFound("customer", customer_id, "customer_id")
        if plan is None:
            raise NotFound("plan", plan_id, "plan_id")
        subscription = start_subscription(new_id(IdKind.SUBSCRIPTION), customer, plan, start, self.clock.now())
        async with self.unit_of_work() as uow:
            await uow.subscriptions.add_subscription(subscription)
            await uow.commit()
        return subscription

    async def cancel(self, mode: Mode, subscription_id: str) -> Subscription:
        """Cancel at the end of the current period: that period is still invoiced, then it stops."""
        async with self.unit_of_work() as uow:
            found = await uow.subscriptions.subscription(mode, subscription_id, lock=True)
            if found is None:
                raise NotFound("subscription", subscription_id)
            cancelled = cancel_at_period_end(found, self.clock.now())
            await uow.subscriptions.save_lifecycle([cancelled])
            await uow.commit()
        return cancelled
