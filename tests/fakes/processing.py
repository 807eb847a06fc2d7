"""In-memory fakes of the processor's ports, for unit tests only. The usage store's fake applies the same
domain rule as the Redis adapter, and tests/integration/test_usage_counter_contract.py runs one contract
suite against both, so a unit test on the fake says something about the real thing.

Each fake can be told to fail (`fail_when`), to test what the failure policy does with the failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from meterflow.domain.catalog import Metric
from meterflow.domain.counting import (
    BatchOutcome,
    CountableEvent,
    DedupeKey,
    RollupKey,
    StoredState,
    count_batch,
    period_figure,
)
from meterflow.domain.event_record import EventOnRecord
from meterflow.domain.late_events import FinalizedPeriod, LateEvent
from meterflow.domain.modes import Mode
from meterflow.domain.records import DeadLetter
from meterflow.domain.rollups import DaySlice, MetricRule, Rollup, day_slices
from meterflow.domain.usage import PeriodUsage, UsageQuery

Failure = Callable[[Sequence[object]], Exception | None]


def never(_: Sequence[object]) -> Exception | None:
    return None


@dataclass
class MemoryUsageStore:
    """Marks and rollups in dicts; `apply` is all-or-nothing like the Redis transaction."""

    fail_when: Failure = never
    counted: set[DedupeKey] = field(default_factory=set)
    origins: dict[DedupeKey, str] = field(default_factory=dict)
    rollups: dict[RollupKey, dict[int, Rollup]] = field(default_factory=dict)
    distinct: dict[RollupKey, dict[str, int]] = field(default_factory=dict)
    applied: int = 0

    async def known_keys(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        return {key for key in idempotency_keys if (mode, key) in self.counted}

    async def apply(self, events: Sequence[CountableEvent], now: datetime) -> BatchOutcome:
        if error := self.fail_when(events):
            raise error
        outcome, changes = count_batch(events, StoredState(self.counted, self.rollups, self.distinct,
                                                            self.origins))
        self.counted |= {e.dedupe_key for e in outcome.counted}
        self.origins |= {e.dedupe_key: e.origin for e in outcome.counted if e.origin is not None}
        self.rollups |= changes.rollups
        self.distinct |= changes.distinct
        self.applied += 1
        return outcome

    async def usage(self, queries: Sequence[UsageQuery], known: Collection[Metric] = ()) -> list[PeriodUsage]:
        def days(q: UsageQuery) -> Iterable[tuple[DaySlice, dict[int, Rollup], dict[str, int]]]:
            for piece in day_slices(q.period):
                key = RollupKey(q.mode, q.metric_id, q.customer_id, piece.day)
                yield piece, self.rollups.get(key, {}), self.distinct.get(key, {})
        return [period_figure(days(q)) for q in queries]


@dataclass
class MemoryCatalog:
    customers: dict[Mode, set[str]] = field(default_factory=dict)
    rules: dict[Mode, list[MetricRule]] = field(default_factory=dict)
    fail_when: Failure = never

    async def existing_customer_ids(self, mode: Mode, ids: Iterable[str]) -> set[str]:
        wanted = set(ids)
        if error := self.fail_when(sorted(wanted)):
            raise error
        return wanted & self.customers.get(mode, set())

    async def metric_rules(self, mode: Mode, event_names: Iterable[str]) -> list[MetricRule]:
        names = set(event_names)
        return [rule for rule in self.rules.get(mode, []) if rule.event_name in names]


@dataclass
class MemoryLateEvents:
    periods: list[FinalizedPeriod] = field(default_factory=list)
    recorded: dict[tuple[Mode, str, str], LateEvent] = field(default_factory=dict)

    async def finalized_periods(self, mode: Mode, customer_ids: Sequence[str],
                                since: datetime) -> list[FinalizedPeriod]:
        return [p for p in self.periods if p.customer_id in customer_ids and p.end > since]

    async def record(self, events: Sequence[LateEvent]) -> None:
        for e in events:
            self.recorded.setdefault((e.mode, e.idempotency_key, e.invoice_id), e)


@dataclass
class MemoryDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)
    fail_when: Failure = never

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Sending nothing never fails, as with the broker (no request is made)."""
        if letters and (error := self.fail_when(letters)):
            raise error
        self.letters += letters


@dataclass
class MemoryEventRecord:
    """The events on record by (mode, key, timestamp); the first row of a key stays, as with ON CONFLICT."""

    rows: dict[tuple[Mode, str, datetime], EventOnRecord] = field(default_factory=dict)
    fail_when: Failure = never

    async def add(self, events: Sequence[EventOnRecord]) -> None:
        if events and (error := self.fail_when(events)):
            raise error
        for e in events:
            self.rows.setdefault((e.mode, e.idempotency_key, e.timestamp), e)

    async def by_key(self, mode: Mode, idempotency_key: str) -> EventOnRecord | None:
        return next((e for (m, key, _), e in self.rows.items() if (m, key) == (mode, idempotency_key)), None)

    @asynccontextmanager
    async def counting(self) -> AsyncIterator[None]:
        """One event loop and no rebuild in the unit tests: nothing to fence."""
        yield
