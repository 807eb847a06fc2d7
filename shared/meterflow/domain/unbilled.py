"""Unbilled usage: the parts of a time window that no period of a customer bills for one
metric, each with why, so that counted usage no invoice carries is shown and never silently dropped.

A metric's usage is billed where a period of one of the customer's subscriptions whose plan prices it
bills it: the invoiced and waiting periods, the current one and those after it until billing stops, and
the first period's reach back by the start allowance. Every other instant gets one reason, the first that
applies: in a trial of such a subscription; between its start and where it stopped (paused); after it
was cancelled; before it started. Without such a subscription: the metric is priced by no plan of the
customer's subscriptions, or the customer has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.periods import Period, whole_second
from meterflow.domain.start_allowance import billed_range, billing_end

FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # the end of an active subscription's billing: not known yet


class UnbilledReason(StrEnum):
    BEFORE_START = "before_start"
    TRIAL = "trial"
    PAUSED = "paused"
    AFTER_CANCEL = "after_cancel"
    NO_SUBSCRIPTION = "no_subscription"
    METRIC_NOT_PRICED = "metric_not_priced"
    NON_NUMERIC = "non_numeric"  # counted events whose value a numeric metric cannot read


@dataclass(frozen=True)
class BillingHistory:
    """What one subscription bills over time: `billed`, the usage ranges of its periods; `life`, from
    where its first period's usage starts to where its billing stopped (FOREVER while it may bill);
    `trial`, the span of its trial."""

    billed: tuple[Period, ...]
    life: Period
    trial: Period | None
    cancelled: bool


@dataclass(frozen=True)
class UnbilledSpan:
    period: Period
    reason: UnbilledReason


def _onward(subscription: Subscription) -> Period | None:
    """The current period and those after it, until billing stops (None when nothing is left to bill)."""
    current = subscription.current_period
    if not subscription.bills:
        return None
    if subscription.stops_at is not None:
        return Period(current.start, max(current.start, subscription.stops_at))
    if subscription.cancel_at_period_end or subscription.status == SubscriptionStatus.CANCELED:
        return current
    return Period(current.start, FOREVER)


def billing_history(subscription: Subscription, ended: Iterable[Period], trial_days: int) -> BillingHistory:
    """`ended`: the periods of the subscription invoiced (in any status but draft) or waiting for the
    closer; each is billed over its `billed_range` (the first one reaches back by the start allowance)."""
    periods = [*ended, *([onward] if (onward := _onward(subscription)) else [])]
    billed = tuple(billed_range(subscription, p) for p in periods if p.end > p.start)
    begins = subscription.usage_from or subscription.first_period_start or subscription.anchor
    end = _life_end(subscription)
    trial_end = subscription.trial_ends_at
    trial = Period(trial_end - timedelta(days=trial_days), trial_end) if trial_end and trial_days else None
    return BillingHistory(billed, Period(begins, FOREVER if end is None else max(begins, end)), trial,
                          end is not None)


def _life_end(subscription: Subscription) -> datetime | None:
    """Where a cancelled subscription's life ended: the cancel, even when a pause had stopped its billing
    earlier (the time between is paused, after it cancelled); None while it lives."""
    end = billing_end(subscription)
    if end is None or subscription.stops_at is None or subscription.canceled_at is None:
        return end
    return max(end, whole_second(subscription.canceled_at))


def _reason(at: datetime, histories: Sequence[BillingHistory]) -> UnbilledReason:
    if any(h.trial and h.trial.contains(at) for h in histories):
        return UnbilledReason.TRIAL
    if any(h.life.contains(at) for h in histories):
        return UnbilledReason.PAUSED
    if any(h.cancelled and at >= h.life.end for h in histories):
        return UnbilledReason.AFTER_CANCEL
    return UnbilledReason.BEFORE_START


def unbilled_spans(window: Period, histories: Sequence[BillingHistory],
                   customer_has_subscriptions: bool) -> list[UnbilledSpan]:
    """The parts of `window` no period of `histories` (the customer's subscriptions pricing the metric)
    bills, each with its reason, adjacent parts of one reason merged."""
    if not histories:
        reason = UnbilledReason.METRIC_NOT_PRICED if customer_has_subscriptions else UnbilledReason.NO_SUBSCRIPTION
        return [UnbilledSpan(window, reason)] if window.end > window.start else []
    billed = [p for h in histories for p in h.billed]
    edges = {window.start, window.end}
    for h in histories:
        for p in (*h.billed, h.life, *([h.trial] if h.trial else [])):
            edges |= {at for at in (p.start, p.end) if window.start < at < window.end}
    spans: list[UnbilledSpan] = []
    ordered = sorted(edges)
    for start, end in pairwise(ordered):
        if any(p.contains(start) for p in billed):
            continue  # every edge of a billed range is an edge here: [start, end) is billed whole or not at all
        reason = _reason(start, histories)
        if spans and spans[-1].reason is reason and spans[-1].period.end == start:
            spans[-1] = UnbilledSpan(Period(spans[-1].period.start, end), reason)
        else:
            spans.append(UnbilledSpan(Period(start, end), reason))
    return spans


def billed_spans(window: Period, histories: Sequence[BillingHistory]) -> list[Period]:
    """The parts of `window` that are billed: where a numeric metric's unreadable values go unbilled."""
    if not histories:
        return []
    parts, at = [], window.start
    for span in unbilled_spans(window, histories, True):
        if span.period.start > at:
            parts.append(Period(at, span.period.start))
        at = span.period.end
    if at < window.end:
        parts.append(Period(at, window.end))
    return parts
