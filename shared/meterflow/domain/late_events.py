"""Late events (docs/billing.md, "Late events"): counted events whose timestamp falls in a period already invoiced and
finalized. They are kept in usage, never change that invoice, and are reported to ops.

Only an event counted for the first time can be late: a duplicate of a counted event was reported (or
not) when its first copy was counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from meterflow.domain.counting import CountableEvent
from meterflow.domain.modes import Mode


@dataclass(frozen=True)
class FinalizedPeriod:
    """A customer's period whose invoice is finalized: an event in [start, end) can no longer be billed."""

    customer_id: str
    invoice_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class LateEvent:
    mode: Mode
    idempotency_key: str
    customer_id: str
    event_name: str
    event_timestamp: datetime
    invoice_id: str
    detected_at: datetime | None = None


def find_late(events: Iterable[CountableEvent], periods: Sequence[FinalizedPeriod]) -> list[LateEvent]:
    """Every (event, finalized period of its customer that contains it)."""
    by_customer: dict[str, list[FinalizedPeriod]] = defaultdict(list)
    for period in periods:
        by_customer[period.customer_id].append(period)
    return [LateEvent(e.mode, e.idempotency_key, e.customer_id, e.event_name, e.timestamp, p.invoice_id)
            for e in events for p in by_customer.get(e.customer_id, ()) if p.start <= e.timestamp < p.end]
