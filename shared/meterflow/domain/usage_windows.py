"""Which usage window a client may ask for: the rules of `GET /v1/usage`'s `from` and `to`.

A window is read hour by hour from the rollups, so its length bounds the work of one request: no longer
than the rollups are kept (nothing older exists), else one request could walk centuries of empty hours
and hold the gateway's memory with them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from meterflow.domain.errors import FieldError
from meterflow.domain.periods import Period, is_hour_aligned


def usage_window(start: datetime | None, end: datetime | None, longest: timedelta) -> Period | None:
    """The window asked for, or None when neither bound is given (the caller takes the current period)."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise FieldError("from" if start is None else "to", "give both from and to, or neither (the current period)")
    for name, at in (("from", start), ("to", end)):
        if not is_hour_aligned(at):
            raise FieldError(name, "must be on a whole UTC hour (usage is rolled up hourly)")
    if end <= start:
        raise FieldError("to", "must be after from")
    if end - start > longest:
        raise FieldError("to", f"the window is at most {longest.days} days long (the rollup retention)")
    return Period(start, end)


def no_current_period() -> FieldError:
    return FieldError("from", "from and to are required: the customer has no active subscription")
