"""Unbilled usage: the parts of a window no period bills, each with its reason, from a
subscription's billing history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.unbilled import (
    UnbilledReason,
    UnbilledSpan,
    billed_spans,
    billing_history,
    unbilled_spans,
)

START = datetime(2027, 3, 1, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ALLOWED = START - timedelta(minutes=5)


def subscription(**changes: Any) -> Subscription:
    s = Subscription("sub_1", Mode.TEST, "cus_1", "plan_1", SubscriptionStatus.ACTIVE, START,
                     Period(START, START + DAY), False, None, START, BillingInterval.DAILY,
                     first_period_start=START, usage_from=ALLOWED)
    return replace(s, **changes)


def spans(window: Period, s: Subscription, ended: list[Period], trial_days: int = 0) -> list[tuple[Period, str]]:
    found = unbilled_spans(window, [billing_history(s, ended, trial_days)], True)
    return [(span.period, span.reason.value) for span in found]


def test_usage_before_the_allowance_is_before_start_and_the_allowance_is_billed() -> None:
    window = Period(START - 2 * HOUR, START + HOUR)
    assert spans(window, subscription(), []) == [(Period(START - 2 * HOUR, ALLOWED), "before_start")]
    assert billed_spans(window, [billing_history(subscription(), [], 0)]) == [Period(ALLOWED, START + HOUR)]


def test_a_pause_leaves_the_time_until_the_resume_unbilled_as_paused() -> None:
    paused_at, resumed_at = START + 2 * HOUR, START + 5 * HOUR
    resumed = subscription(anchor=resumed_at, current_period=Period(resumed_at, resumed_at + DAY))
    ended = [Period(START, paused_at)]
    assert spans(Period(START, START + DAY), resumed, ended) == [(Period(paused_at, resumed_at), "paused")]
    still_paused = subscription(status=SubscriptionStatus.PAUSED, current_period=Period(paused_at, paused_at),
                                stops_at=paused_at)
    assert spans(Period(START, START + DAY), still_paused, ended) == [(Period(paused_at, START + DAY), "paused")]


def test_after_a_cancel_now_usage_is_unbilled_as_after_cancel() -> None:
    cut = START + 3 * HOUR
    canceled = subscription(status=SubscriptionStatus.CANCELED, current_period=Period(START, cut), stops_at=cut)
    assert spans(Period(START, START + DAY), canceled, []) == [(Period(cut, START + DAY), "after_cancel")]


def test_a_trial_is_unbilled_as_trial() -> None:
    ends = START + DAY
    trial = subscription(anchor=ends, current_period=Period(ends, ends + DAY), trial_ends_at=ends,
                         first_period_start=ends, usage_from=ends)
    assert spans(Period(START - HOUR, ends + HOUR), trial, [], trial_days=1) == [
        (Period(START - HOUR, START), "before_start"), (Period(START, ends), "trial")]


def test_without_a_subscription_pricing_the_metric_the_whole_window_is_unbilled() -> None:
    window = Period(START, START + HOUR)
    assert unbilled_spans(window, [], True) == [UnbilledSpan(window, UnbilledReason.METRIC_NOT_PRICED)]
    assert unbilled_spans(window, [], False) == [UnbilledSpan(window, UnbilledReason.NO_SUBSCRIPTION)]


def test_an_invoiced_period_and_the_next_one_leave_nothing_unbilled_between_them() -> None:
    second = subscription(current_period=Period(START + DAY, START + 2 * DAY))
    assert spans(Period(START, START + 2 * DAY), second, [Period(START, START + DAY)]) == []


def test_a_pause_then_a_cancel_is_paused_until_the_cancel_and_after_cancel_from_it() -> None:
    paused_at, canceled_at = START + 2 * HOUR, START + 3 * HOUR
    canceled = subscription(status=SubscriptionStatus.CANCELED, current_period=Period(paused_at, paused_at),
                            stops_at=paused_at, canceled_at=canceled_at + timedelta(milliseconds=400))
    assert spans(Period(START, START + DAY), canceled, [Period(START, paused_at)]) == [
        (Period(paused_at, canceled_at), "paused"), (Period(canceled_at, START + DAY), "after_cancel")]
