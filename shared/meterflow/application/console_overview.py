"""The ops console's overview: is meterflow taking events in, counting them, closing periods and delivering
webhooks? Every figure is read where it is kept (the accounting per hour of receipt, the close-failure
listing, the webhook attempts log), over the last 24 hours, one value per hour for the plots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from meterflow.application.accounting import Reconciliation
from meterflow.application.ports.console import AttemptsLog, CloseFailureListing, EndpointListing
from meterflow.domain.accounting import HOUR, HourFigures, hour_of
from meterflow.domain.close_failures import CloseFailure
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import FailedAttempts, WebhookEndpoint

WINDOW_HOURS = 24
MAX_CLOSE_FAILURES = 1_000
MAX_ENDPOINTS = 1_000


@dataclass(frozen=True)
class FailingEndpoint:
    endpoint: WebhookEndpoint
    failed_attempts: int


@dataclass(frozen=True)
class Overview:
    """Per-hour series share `hours` (oldest first, the current hour last)."""

    hours: list[datetime]
    accounting: list[HourFigures]
    close_failures: list[CloseFailure]
    close_failures_per_hour: list[int]
    webhook_failures_per_hour: list[int]
    failing_endpoints: list[FailingEndpoint]
    now: datetime

    @property
    def in_flight(self) -> int:
        return sum(max(0, row.in_flight) for row in self.accounting)

    @property
    def dead_letters(self) -> int:
        return sum(row.dead_lettered for row in self.accounting)

    def rate_per_s(self, figure: str) -> float:
        """This hour's `acknowledged` or `counted` events a second so far (a display figure, not money)."""
        current = self.accounting[-1]
        elapsed = max(1.0, (self.now - current.hour).total_seconds())
        return int(getattr(current, figure)) / elapsed


@dataclass(frozen=True)
class ConsoleOverview:
    reconciliation: Reconciliation
    close_failures: CloseFailureListing
    attempts: AttemptsLog
    endpoints: EndpointListing

    async def __call__(self, mode: Mode) -> Overview:
        now = self.reconciliation.clock.now()
        end = hour_of(now) + HOUR
        start = end - WINDOW_HOURS * HOUR
        rows = await self.reconciliation.hours(mode, start, end)
        hours = [row.hour for row in rows]
        failures = await self.close_failures.listing(MAX_CLOSE_FAILURES, mode)
        attempts = await self.attempts.failed_attempts(mode, start)
        return Overview(hours, rows, failures, count_per_hour(hours, [(f.failed_at, 1) for f in failures]),
                        count_per_hour(hours, [(a.hour, a.count) for a in attempts]),
                        await self._failing(mode, attempts), now)

    async def _failing(self, mode: Mode, attempts: Sequence[FailedAttempts]) -> list[FailingEndpoint]:
        failed = failed_per_endpoint(attempts)
        endpoints, _ = await self.endpoints.endpoints(mode, MAX_ENDPOINTS, None)
        return [FailingEndpoint(e, failed[e.id]) for e in endpoints if failed[e.id]]


def failed_per_endpoint(attempts: Sequence[FailedAttempts]) -> Counter[str]:
    failed = Counter[str]()
    for a in attempts:
        failed[a.endpoint_id] += a.count
    return failed


def count_per_hour(hours: Sequence[datetime], counted: Sequence[tuple[datetime, int]]) -> list[int]:
    """`counted` (moment, how many) summed per hour of `hours`; moments outside them are left out."""
    counts = Counter[datetime]()
    for moment, n in counted:
        counts[hour_of(moment)] += n
    return [counts[h] for h in hours]

