"""What a business sets up to be billed: customers, metrics, plans with prices, subscriptions.

A subscription's lifecycle is decided here and nowhere else (docs/billing.md, "Periods and the subscription lifecycle";
docs/billing-periods.md): it starts with its first period at its start truncated to the whole second (or at the end of
its trial: usage before `trial_ends_at` is never billed), moves to the next period once its current one is invoiced,
and, when cancelled at period end, stops after invoicing the period it was cancelled in. Every instant a change takes
effect is a whole second, so every period boundary is one.

Pause and cancel-now end billing at that instant (`stops_at`): the period containing it ends there and is
invoiced like any ended one (periods before it, not yet closed, are closed as usual first). A subscription
with no period left to invoice (paused or stopped, its last period invoiced) holds an empty period
`[t, t)`, which no close ever picks up. Resume starts a new period anchored at the resume instant, at any
time: the periods the pause ended and the closer has not invoiced yet are handed over as `waiting`
periods, which the closer invoices on their own (so several ended periods of one subscription may wait).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.periods import (
    BillingInterval,
    Period,
    next_period,
    period_at,
    period_containing,
    whole_second,
)
from meterflow.domain.pricing.parse import Price, parse_price
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
    phone: str | None = None
    updated_at: datetime | None = None


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
    updated_at: datetime | None = None

    @property
    def rule(self) -> MetricRule:
        return MetricRule(self.id, self.event_name, self.aggregation, self.aggregation_property)


@dataclass(frozen=True)
class PlanPrice:
    """A price: its id, the metric it rates, its definition parsed (a plan never holds a price pricing does not
    understand), and that definition as the API shows it and the database stores it (`wire`: money as decimal
    text, counts as given). Parsed once per loaded plan, not once per invoice rated on it (a close rates thousands
    of invoices on one plan)."""

    id: str
    metric_id: str
    definition: Price
    wire: dict[str, Any]

    @classmethod
    def parse(cls, price_id: str, metric_id: str, wire: dict[str, Any]) -> PlanPrice:
        """Raises PriceError naming the faulty field when `wire` is not a definition pricing understands."""
        return cls(price_id, metric_id, parse_price(wire), wire)


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
    trial_period_days: int = 0
    vat_rate: Decimal = Decimal(0)  # a percentage: "7.5" is 7.5 %
    updated_at: datetime | None = None


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Subscription:
    id: str
    mode: Mode
    customer_id: str
    plan_id: str
    status: SubscriptionStatus
    anchor: datetime
    current_period: Period
    cancel_at_period_end: bool
    canceled_at: datetime | None
    created_at: datetime
    interval: BillingInterval  # the plan's billing period when it was created
    trial_ends_at: datetime | None = None
    updated_at: datetime | None = None
    stops_at: datetime | None = None  # pause or cancel-now instant: no period runs past it
    first_period_start: datetime | None = None  # where its first billing period starts (None: not recorded)
    usage_from: datetime | None = None  # the first period bills usage from here (start allowance)

    @property
    def bills(self) -> bool:
        """Whether it still has a period to invoice (a stopped or paused one holds an empty period)."""
        return self.current_period.end > self.current_period.start

    def period_at(self, at: datetime) -> Period:
        return period_containing(self.anchor, self.interval, at)

    def open_period(self, now: datetime) -> Period:
        """The period a draft or a usage query defaults to: the one containing now, or the first
        while the subscription has not started yet."""
        return self.period_at(max(now, self.anchor))


def _first_period(anchor: datetime, interval: BillingInterval) -> Period:
    try:
        return period_at(anchor, interval, 0)
    except (ValueError, OverflowError):  # a first period that would end after year 9999
        raise FieldError("start_date", "is too late: its first billing period would end after year 9999") from None


def start_subscription(subscription_id: str, customer: Customer, plan: Plan, start: datetime | None,
                       now: datetime) -> Subscription:
    """A new active subscription whose first period starts at `start` (default: now) truncated to the
    whole second, or at the end of the plan's trial, so no usage of the trial is ever in a billing period.
    Its first period bills usage from its own start (`start_allowance.with_start_allowance` reaches back)."""
    begins = whole_second(start or now)
    trial_ends_at = begins + timedelta(days=plan.trial_period_days) if plan.trial_period_days else None
    anchor = trial_ends_at or begins
    return Subscription(subscription_id, customer.mode, customer.id, plan.id, SubscriptionStatus.ACTIVE, anchor,
                        _first_period(anchor, plan.billing_period), False, None, now, plan.billing_period,
                        trial_ends_at, now, first_period_start=anchor, usage_from=anchor)


def _stopped_at(at: datetime) -> Period:
    return Period(at, at)


def advance(subscription: Subscription) -> Subscription:
    """The subscription once its current period is invoiced: on its next period (cut at `stops_at`, if
    billing stops within it); or, with nothing left to invoice (stopped or paused, or cancelled at the end
    of the period just invoiced), on an empty period."""
    ended = subscription.current_period.end
    if subscription.status == SubscriptionStatus.CANCELED and subscription.stops_at is None:
        return replace(subscription, current_period=_stopped_at(ended))  # stopped at a period end long ago
    if subscription.cancel_at_period_end and subscription.stops_at is None:
        return replace(subscription, status=SubscriptionStatus.CANCELED, current_period=_stopped_at(ended))
    following = next_period(subscription.anchor, subscription.interval, subscription.current_period)
    return replace(subscription, current_period=_cut(following, subscription.stops_at))


def _cut(period: Period, stops_at: datetime | None) -> Period:
    """`period` ended at `stops_at` if billing stops within it; empty once billing has stopped."""
    if stops_at is None or stops_at >= period.end:
        return period
    return Period(period.start, stops_at) if stops_at > period.start else _stopped_at(stops_at)


def _cut_at(subscription: Subscription, at: datetime) -> Period:
    """The current period, ended at `at` if `at` falls in it; empty when nothing of it has elapsed."""
    return _cut(subscription.current_period, at)


def pause(subscription: Subscription, at: datetime) -> Subscription:
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(f"only an active subscription can be paused; this one is {subscription.status}", "status")
    return replace(subscription, status=SubscriptionStatus.PAUSED, current_period=_cut_at(subscription, at),
                   stops_at=at, updated_at=at)


def periods_owed(subscription: Subscription) -> tuple[Period, ...]:
    """The ended periods a stopped or paused subscription has still to invoice: its current period and
    those after it up to where billing stopped (several, when the closer is behind)."""
    owed: list[Period] = []
    while subscription.bills and subscription.stops_at is not None:
        owed.append(subscription.current_period)
        subscription = advance(subscription)
    return tuple(owed)


def resume(subscription: Subscription, at: datetime) -> StatusChange:
    """A new period anchored at the resume instant, however soon after the pause: the periods the pause
    ended and the closer has not invoiced yet wait for it apart (`waiting`), each invoiced once."""
    if subscription.status != SubscriptionStatus.PAUSED:
        raise Conflict(f"only a paused subscription can be resumed; this one is {subscription.status}", "status")
    resumed = replace(subscription, status=SubscriptionStatus.ACTIVE, anchor=at,
                      current_period=_first_period(at, subscription.interval), trial_ends_at=None, stops_at=None,
                      updated_at=at)
    return StatusChange(resumed, periods_owed(subscription))


def cancel_now(subscription: Subscription, at: datetime) -> Subscription:
    """Cancelled at `at`: the current period ends there and is still invoiced, then it stops."""
    if subscription.status == SubscriptionStatus.CANCELED:
        raise Conflict("this subscription is already canceled", "status")
    period = _cut_at(subscription, at) if subscription.status == SubscriptionStatus.ACTIVE else (
        subscription.current_period)
    return replace(subscription, status=SubscriptionStatus.CANCELED, current_period=period,
                   canceled_at=subscription.canceled_at or at, stops_at=subscription.stops_at or at, updated_at=at)


@dataclass(frozen=True)
class StatusChange:
    """A subscription after a status change, and the ended periods it hands to the closer's queue."""

    subscription: Subscription
    waiting: tuple[Period, ...] = ()


def change_status(subscription: Subscription, status: SubscriptionStatus, at: datetime) -> StatusChange:
    """PATCH status: paused, active or canceled, taking effect at the whole second of `at`; an
    impossible transition (pausing what is not active, resuming what is not paused, cancelling twice) is a
    Conflict."""
    effective = whole_second(at)
    if status == SubscriptionStatus.ACTIVE:
        change = resume(subscription, effective)
    else:
        stop = pause if status == SubscriptionStatus.PAUSED else cancel_now
        change = StatusChange(stop(subscription, effective))
    # Boundaries at the whole second; `updated_at` when the change was made (never before the creation).
    return replace(change, subscription=replace(change.subscription, updated_at=at))


def double_billed_metrics(plan: Plan, others: list[Plan]) -> set[str]:
    """Metrics the new plan prices that a plan of the customer's active or paused subscriptions prices
    too: the same usage would be billed twice (409 on create)."""
    mine = {price.metric_id for price in plan.prices}
    return mine & {price.metric_id for other in others for price in other.prices}


def cancel_at_period_end(subscription: Subscription, at: datetime) -> Subscription:
    """Cancelled as of `at`, effective at the end of the current period; asking again keeps the first time."""
    if subscription.status == SubscriptionStatus.CANCELED:
        raise Conflict("this subscription is already canceled", "status")
    return replace(subscription, cancel_at_period_end=True, canceled_at=subscription.canceled_at or at,
                   updated_at=at)
