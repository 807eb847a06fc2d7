"""What a business sets up to be billed: customers, metrics, plans with prices, subscriptions.

A subscription's lifecycle is decided here and nowhere else: it starts with its first period at its start
(aligned to the hour, the rollup resolution), moves to the next period once its current one is invoiced,
and, when cancelled, stops after invoicing the period it was cancelled in (billing.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period, align_to_hour, next_period, period_at, period_containing
from meterflow.domain.rollups import Aggregation, MetricRule


@dataclass(frozen=True)
class Customer:
    id: str
    mode: Mode
    external_id: str
    name: str
    email: str | None
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Metric:
    id: str
    mode: Mode
    name: str
    event_name: str
    aggregation: Aggregation
    aggregation_property: str | None
    description: str | None
    created_at: datetime

    @property
    def rule(self) -> MetricRule:
        return MetricRule(self.id, self.event_name, self.aggregation, self.aggregation_property)


@dataclass(frozen=True)
class PlanPrice:
    """A price as stored: its id, the metric it rates, and the definition pricing understands."""

    id: str
    metric_id: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    id: str
    mode: Mode
    name: str
    description: str | None
    currency: str
    plan_type: str
    billing_period: BillingInterval
    prices: tuple[PlanPrice, ...]
    created_at: datetime


class SubscriptionStatus:
    ACTIVE = "active"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Subscription:
    id: str
    mode: Mode
    customer_id: str
    plan_id: str
    status: str
    anchor: datetime
    current_period: Period
    cancel_at_period_end: bool
    canceled_at: datetime | None
    created_at: datetime
    interval: BillingInterval = field(default=BillingInterval.MONTHLY)

    def period_at(self, at: datetime) -> Period:
        return period_containing(self.anchor, self.interval, at)

    def open_period(self, now: datetime) -> Period:
        """The period a draft or a usage query defaults to: the one containing now, or the first
        while the subscription has not started yet."""
        return self.period_at(max(now, self.anchor))


def start_subscription(subscription_id: str, customer: Customer, plan: Plan, start: datetime | None,
                       now: datetime) -> Subscription:
    """A new active subscription whose first period starts at `start` (default: now), on the whole UTC
    hour at or before it, so a period quantity is an exact sum of hourly windows (domain/periods.py)."""
    anchor = align_to_hour(start or now)
    try:
        first = period_at(anchor, plan.billing_period, 0)
    except (ValueError, OverflowError):  # a first period that would end after year 9999
        raise FieldError("start_date", "is too late: its first billing period would end after year 9999") from None
    return Subscription(subscription_id, customer.mode, customer.id, plan.id, SubscriptionStatus.ACTIVE, anchor,
                        first, False, None, now, plan.billing_period)


def advance(subscription: Subscription) -> Subscription:
    """The subscription once its current period is invoiced: on its next period, or stopped if it was
    cancelled at period end (its last invoice is the one just written)."""
    following = next_period(subscription.anchor, subscription.interval, subscription.current_period)
    status = SubscriptionStatus.CANCELED if subscription.cancel_at_period_end else subscription.status
    return replace(subscription, status=status, current_period=following)


def cancel_at_period_end(subscription: Subscription, at: datetime) -> Subscription:
    """Cancelled as of `at`, effective at the end of the current period; asking again keeps the first time."""
    return replace(subscription, cancel_at_period_end=True, canceled_at=subscription.canceled_at or at)
