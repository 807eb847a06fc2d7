"""A usage question and its answer: what a (metric, customer) used over a period.

The usage store answers many of these in one round trip; draft invoices, period close and the usage API
all ask them, so the three always see the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Rollup


@dataclass(frozen=True)
class UsageQuery:
    mode: Mode
    metric_id: str
    customer_id: str
    period: Period
    distinct: bool = True  # read the distinct values too (only a `unique` metric's figure needs them)


@dataclass(frozen=True)
class PeriodUsage:
    rollup: Rollup
    distinct_values: int
