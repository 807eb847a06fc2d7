"""A period the closer could not invoice, and why (docs/billing.md, "Invoices and period close": one subscription can
never stop the others).

The closer skips such a period, closes every other due one, reports this record (CLI output and exit
status, the `meterflow_close_skipped_total` metric, the `close_failures` listing) and tries the period
again on its next run; the record is cleared once the period closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from meterflow.domain.errors import Conflict
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period

_DETAIL_CHARS = 500  # enough for any message we raise; bounds what an odd exception can put in the table


class CloseStage(StrEnum):
    """Where the period failed: reading its subscription, computing its invoice (usage, rating, the next
    period) or writing it."""

    READ = "read"
    COMPUTE = "compute"
    WRITE = "write"


@dataclass(frozen=True)
class UnreadableSubscription:
    """A due subscription row that cannot be turned into a Subscription (a value written by hand that no
    code path writes, such as an unknown billing interval on its plan): reported, never a failed chunk."""

    subscription_id: str
    mode: Mode
    period: Period
    error: Exception


class UnbillablePeriod(Conflict):
    """The period's usage cannot be read: it starts before the oldest usage still kept (the rollup
    retention), so its invoice would bill usage that is gone, or a bound is not a real instant (Postgres'
    -infinity, which a start in year 1 becomes). Refusing it also keeps a subscription anchored in year 1
    from being invoiced period after period, for hours, while every other due period waits."""


def check_billable(period: Period, oldest_usage: datetime) -> None:
    if period.start.tzinfo is None or period.end.tzinfo is None:
        raise UnbillablePeriod(f"the period {period.start.isoformat()} → {period.end.isoformat()} has a bound "
                               "that is not a UTC instant")
    if period.start < oldest_usage:
        raise UnbillablePeriod(f"the period starts before the oldest usage kept ({oldest_usage.isoformat()}); "
                               "its invoice cannot be computed")


@dataclass(frozen=True)
class CloseFailure:
    subscription_id: str
    mode: Mode
    period: Period
    stage: CloseStage
    reason: str
    detail: str
    failed_at: datetime

    @classmethod
    def of(cls, subscription_id: str, mode: Mode, period: Period, stage: CloseStage, error: BaseException,
           at: datetime) -> CloseFailure:
        """`reason` is the error's class, a closed set fit for a metric label; `detail` its message."""
        # Postgres text holds neither NUL nor lone surrogates: a record that cannot be written would fail the
        # whole chunk's transaction, the very stall this record exists to prevent.
        text = str(error).encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
        detail = text[:_DETAIL_CHARS]
        return cls(subscription_id, mode, period, stage, type(error).__name__, detail, at)
