"""The start allowance: which usage a subscription's first period bills besides its own.

Clients stamp events with their own clocks, and a client that creates a subscription and at once sends
the usage of the last few seconds stamps some of it just before the subscription's start. So the first
period also bills usage stamped within the clock-skew allowance before it (the same allowance by which an
event may be ahead of the receiver), from `usage_from` on. That reach is fixed when the subscription
starts, under the customer's lock, and stops at the end of the billing of every earlier subscription of
the customer that priced one of the same metrics: on a plan change at T, usage before T stays with the old
subscription, and nothing is ever billed by two periods.

Draft invoices, period close, `explain` and an invoice's events all read a period's usage through
`billed_range`, so they agree on every event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.periods import Period


def usage_from(first_period_start: datetime, allowance: timedelta, billed_until: Iterable[datetime]) -> datetime:
    """Where the first period's usage starts: `allowance` before it, but never before the end of another
    period of the customer for the same metrics (`billed_until`: where each earlier one stopped billing)."""
    try:
        reach = first_period_start - allowance
    except OverflowError:  # a start at the first instant a date can hold: there is no time before it
        reach = first_period_start
    return min(first_period_start, max([reach, *billed_until]))


def with_start_allowance(subscription: Subscription, allowance: timedelta,
                         billed_until: Iterable[datetime]) -> Subscription:
    """A new subscription whose first period reaches back by the allowance; never into a trial, whose
    usage is never billed."""
    if subscription.trial_ends_at is not None or subscription.first_period_start is None:
        return subscription
    return replace(subscription, usage_from=usage_from(subscription.first_period_start, allowance, billed_until))


def billing_end(subscription: Subscription) -> datetime | None:
    """Where a cancelled subscription stopped billing (None while it may still bill: active or paused)."""
    if subscription.status != SubscriptionStatus.CANCELED:
        return None
    return subscription.stops_at or subscription.current_period.end


def billed_until(subscription: Subscription) -> datetime | None:
    """Where an earlier subscription's periods stopped billing, for a new one's reach: None when it billed
    nothing (stopped within the second its first period began) or may still bill."""
    end = billing_end(subscription)
    start = subscription.first_period_start
    return end if end is not None and (start is None or end > start) else None


def billed_range(subscription: Subscription, period: Period) -> Period:
    """The usage timestamps one of the subscription's periods bills: the period itself, reaching back to
    `usage_from` when it is the subscription's first period."""
    return Period(billed_from(period.start, subscription.first_period_start, subscription.usage_from), period.end)


def billed_from(period_start: datetime, first_period_start: datetime | None, reach: datetime | None) -> datetime:
    """Where a period's billed usage starts, from what is stored of its subscription: `reach` for the first
    period (the start allowance), the period's own start for every other."""
    if reach is None or period_start != first_period_start or reach >= period_start:
        return period_start
    return reach
