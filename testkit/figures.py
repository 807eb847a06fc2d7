"""What was counted for a set of books, read back from Redis the way the API reads usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.usage import UsageQuery
from testkit.workload import Books


def usage_store(redis: RedisClient) -> UsageStore:
    """Only `usage` is called on it: the windows are irrelevant to reading figures."""
    return UsageStore(redis, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                      retention=timedelta(days=1))


def around_now() -> Period:
    """Five hours around now: wide enough for a run that crosses an hour, whichever side of it events land."""
    start = align_to_hour(datetime.now(UTC)) - timedelta(hours=2)
    return Period(start, start + timedelta(hours=5))


async def counted(store: UsageStore, books: Books, mode: Mode | None = None) -> tuple[int, Decimal]:
    """(events counted, units summed) over every customer of the books."""
    mode = mode or books.mode
    figures = await store.usage([UsageQuery(mode, metric, customer, around_now())
                                 for metric in (books.count_metric, books.sum_metric)
                                 for customer in books.customers])
    half = len(books.customers)
    return sum(f.rollup.events for f in figures[:half]), sum((f.rollup.total for f in figures[half:]), Decimal(0))
