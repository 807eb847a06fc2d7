"""Unbilled usage of a customer (`GET /v1/usage/unbilled`, `meterflow explain`): counted
usage in a window that no period bills, per metric and reason, with exact figures.

The spans come from the domain (`domain/unbilled.py`) given each subscription's billing history; their
figures from the one usage reader every figure goes through (any `[start, end)` to the second), all in
one batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from meterflow.application.invoicing import billed_quantity
from meterflow.application.ports.catalog import BillingRecords
from meterflow.application.ports.usage import UsageReader
from meterflow.domain.catalog import Metric, Plan, SubscriptionStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.unbilled import BillingHistory, UnbilledReason, billed_spans, billing_history, unbilled_spans
from meterflow.domain.usage import PeriodUsage, UsageQuery

EVERY_STATUS = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED, SubscriptionStatus.CANCELED)
MAX_METRICS = 1_000


@dataclass(frozen=True)
class Unbilled:
    """One metric's counted usage over `period` that no period bills, and why."""

    metric: Metric
    reason: UnbilledReason
    period: Period
    value: Decimal
    events: int


@dataclass(frozen=True)
class UnbilledUsage:
    records: BillingRecords
    usage: UsageReader

    async def of_customer(self, mode: Mode, customer_id: str, window: Period,
                          metric_ids: Iterable[str] | None = None) -> list[Unbilled]:
        """Every span of the window with usage that no period bills, per metric (those given, or every
        metric of the mode); a numeric metric's unreadable values in billed spans as `non_numeric`."""
        metrics = await self._metrics(mode, metric_ids)
        subscriptions = await self.records.active_subscriptions_of(mode, customer_id, EVERY_STATUS)
        plans = await self.records.plans_by_id(mode, {s.plan_id for s in subscriptions})
        ended = await self.records.ended_periods(mode, [s.id for s in subscriptions])
        histories = {s.id: billing_history(s, ended.get(s.id, []), _trial_days(plans.get(s.plan_id)))
                     for s in subscriptions}
        asked: list[tuple[Metric, UnbilledReason, Period]] = []
        for metric in metrics:
            pricing = [histories[s.id] for s in subscriptions if _prices(plans.get(s.plan_id), metric)]
            asked += [(metric, span.reason, span.period)
                      for span in unbilled_spans(window, pricing, bool(subscriptions))]
            asked += [(metric, UnbilledReason.NON_NUMERIC, p) for p in _billed(window, pricing, metric)]
        figures = await self.usage.usage([UsageQuery(mode, m.id, customer_id, p) for m, _, p in asked], known=metrics)
        return _merged_non_numeric([_row(m, reason, p, f) for (m, reason, p), f in zip(asked, figures, strict=True)])

    async def _metrics(self, mode: Mode, metric_ids: Iterable[str] | None) -> list[Metric]:
        if metric_ids is not None:
            return list((await self.records.metrics_by_id(mode, metric_ids)).values())
        found, _ = await self.records.metrics(mode, MAX_METRICS, None)
        return found


def _trial_days(plan: Plan | None) -> int:
    return plan.trial_period_days if plan else 0


def _prices(plan: Plan | None, metric: Metric) -> bool:
    return plan is not None and any(p.metric_id == metric.id for p in plan.prices)


def _billed(window: Period, pricing: Sequence[BillingHistory], metric: Metric) -> list[Period]:
    """Billed spans, where a numeric metric's unreadable values would hide (a count reads no value)."""
    return billed_spans(window, pricing) if metric.aggregation.reads_property else []


def _row(metric: Metric, reason: UnbilledReason, period: Period, figure: PeriodUsage) -> Unbilled:
    if reason is UnbilledReason.NON_NUMERIC:
        return Unbilled(metric, reason, period, Decimal(0), figure.rollup.unbillable)
    return Unbilled(metric, reason, period, billed_quantity(metric, figure),
                    figure.rollup.events + figure.rollup.unbillable)


def _merged_non_numeric(rows: list[Unbilled]) -> list[Unbilled]:
    """Spans with no events dropped; a metric's non-numeric figures summed into one row over their span."""
    kept = [r for r in rows if r.events and r.reason is not UnbilledReason.NON_NUMERIC]
    by_metric: dict[str, list[Unbilled]] = {}
    for r in rows:
        if r.events and r.reason is UnbilledReason.NON_NUMERIC:
            by_metric.setdefault(r.metric.id, []).append(r)
    for found in by_metric.values():
        kept.append(Unbilled(found[0].metric, UnbilledReason.NON_NUMERIC,
                             Period(found[0].period.start, found[-1].period.end), Decimal(0),
                             sum(r.events for r in found)))
    return kept
