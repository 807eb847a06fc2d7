"""What a business sets up to be billed: customers, metrics, plans with prices, subscriptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period, period_containing
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
