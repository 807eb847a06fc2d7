"""The unbilled-usage use case on fakes: spans from each subscription's history, figures exact, a
numeric metric's unreadable values in billed spans as one `non_numeric` row, spans without usage left out."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from meterflow.application.unbilled import UnbilledUsage
from meterflow.domain.catalog import Metric, Plan, PlanPrice, Subscription, SubscriptionStatus
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.rollups import COUNTED, Aggregation, Observation, Rollup, fold
from meterflow.domain.unbilled import UnbilledReason
from meterflow.domain.usage import PeriodUsage, UsageQuery

START = datetime(2027, 3, 1, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
MODE = Mode.TEST
PRICED = Metric("met_sum", MODE, "bytes", "upload", Aggregation.SUM, "bytes", None, START)
UNPRICED = Metric("met_count", MODE, "calls", "call", Aggregation.COUNT, None, None, START)
PLAN = Plan("plan_1", MODE, "p", None, "USD", "collection", BillingInterval.DAILY,
            (PlanPrice.parse("price_1", PRICED.id, {"model": "flat", "unit_price": "1"}),), START)


@dataclass
class Records:
    subscriptions: list[Subscription] = field(default_factory=list)

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]:
        return {PLAN.id: PLAN} if PLAN.id in set(ids) else {}

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]:
        return {m.id: m for m in (PRICED, UNPRICED) if m.id in set(ids)}

    async def metrics(self, mode: Mode, limit: int, starting_after: str | None) -> tuple[list[Metric], bool]:
        return [PRICED, UNPRICED], False

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = ()) -> list[Subscription]:
        return [s for s in self.subscriptions if s.customer_id == customer_id and s.status in statuses]

    async def ended_periods(self, mode: Mode, subscription_ids: Collection[str]) -> dict[str, list[Period]]:
        return {}


@dataclass
class Usage:
    events: list[tuple[str, datetime, Observation]] = field(default_factory=list)

    async def usage(self, queries: Sequence[UsageQuery], known: Collection[Metric] = ()) -> list[PeriodUsage]:
        figures = []
        for q in queries:
            rollup = Rollup()
            for metric_id, at, seen in self.events:
                if metric_id == q.metric_id and q.period.contains(at):
                    rollup = fold(rollup, seen)
            figures.append(PeriodUsage(rollup, 0))
        return figures


def subscribed() -> Subscription:
    return Subscription("sub_1", MODE, "cus_1", PLAN.id, SubscriptionStatus.ACTIVE, START,
                        Period(START, START + 24 * HOUR), False, None, START, BillingInterval.DAILY,
                        first_period_start=START, usage_from=START - timedelta(minutes=5))


async def test_each_reason_with_its_exact_figure_and_no_row_without_usage() -> None:
    usage = Usage([(PRICED.id, START - HOUR, Observation(value=Decimal("2.5"))),
                   (PRICED.id, START - HOUR, Observation(value=Decimal("0.25"))),
                   (PRICED.id, START - timedelta(minutes=1), Observation(value=Decimal(7))),  # the allowance
                   (PRICED.id, START + HOUR, Observation(unbillable=True)),
                   (PRICED.id, START + 2 * HOUR, Observation(unbillable=True)),
                   (UNPRICED.id, START + HOUR, COUNTED)])
    rows = await UnbilledUsage(Records([subscribed()]), usage).of_customer(
        MODE, "cus_1", Period(START - 2 * HOUR, START + 3 * HOUR))
    found = sorted((r.metric.id, r.reason, r.period, r.value, r.events) for r in rows)
    assert found == [
        (UNPRICED.id, UnbilledReason.METRIC_NOT_PRICED, Period(START - 2 * HOUR, START + 3 * HOUR), Decimal(1), 1),
        (PRICED.id, UnbilledReason.BEFORE_START, Period(START - 2 * HOUR, START - timedelta(minutes=5)),
         Decimal("2.75"), 2),
        (PRICED.id, UnbilledReason.NON_NUMERIC, Period(START - timedelta(minutes=5), START + 3 * HOUR),
         Decimal(0), 2)]


async def test_a_customer_without_subscriptions_has_all_its_usage_unbilled_as_no_subscription() -> None:
    usage = Usage([(UNPRICED.id, START, COUNTED)])
    rows = await UnbilledUsage(Records(), usage).of_customer(MODE, "cus_1", Period(START, START + HOUR),
                                                            [UNPRICED.id])
    assert [(r.reason, r.events) for r in rows] == [(UnbilledReason.NO_SUBSCRIPTION, 1)]
