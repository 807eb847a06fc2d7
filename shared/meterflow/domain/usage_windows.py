"""Which time window a client may ask for: the rules of `from` and `to` on `GET /v1/usage`, on the events
on record (`GET /v1/events`) and on a replay, one rule for all three (`checked_window`).

Any second may bound a window (docs/billing.md, "Aggregations": whole hours from the rollups, edge hours from the events
on record). A window is read hour by hour from the rollups, so its length bounds the work of one request: no longer than
the rollups are kept (nothing older exists), else one request could walk centuries of empty hours and hold the gateway's
memory with them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from meterflow.domain.errors import FieldError
from meterflow.domain.periods import Period


def usage_window(start: datetime | None, end: datetime | None, longest: timedelta) -> Period | None:
    """The window asked for, or None when neither bound is given (the caller takes the current period)."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise FieldError("from" if start is None else "to", "give both from and to, or neither (the current period)")
    return checked_window(start, end, longest, "the rollup retention")


def checked_window(start: datetime, end: datetime, longest: timedelta, kept_for: str) -> Period:
    """`[start, end)`: `end` after `start`, and no longer than what is kept (`longest`, named `kept_for`):
    nothing older exists, and the length of a window is the work of the request that reads it."""
    if end <= start:
        raise FieldError("to", "must be after from")
    if end - start > longest:
        raise FieldError("to", f"the window is at most {longest.days} days long ({kept_for})")
    return Period(start, end)


def no_current_period() -> FieldError:
    return FieldError("from", "from and to are required: the customer has no active subscription")
