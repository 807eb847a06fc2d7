"""The one source of "now": services are given a clock, never call `datetime.now` themselves.

Periods, trials, grace, acceptance windows and commit policies all depend on the time; with the clock
injected, tests step it across those boundaries instead of backdating data or sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SteppedClock:
    """A clock that moves only when told to (tests and scenario runs)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        self._now += by
        return self._now

    def set(self, to: datetime) -> None:
        self._now = to.astimezone(UTC)
