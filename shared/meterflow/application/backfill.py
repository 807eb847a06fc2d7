"""Backfill (docs/billing.md, "Backfill"): newline-delimited events older than the acceptance window, exactly once
against the events on record.

Each line is validated like any event (`parse_event`, the customer, every metric's reading of it), with
one difference: it must be *older* than the window W (a younger one belongs to ingest, where the dedupe
marks guard it). A key already on record, or earlier in the file, is a duplicate. The order makes a run
safe to interrupt and to repeat:

1. late-event reports for new events in finalized periods (idempotent, before anything else, as in the
   processor: a crash never loses a report);
2. the new events go on record (one insert per chunk, `ON CONFLICT DO NOTHING`);
3. at the end, every hour touched by a valid line (new or already on record) is rebuilt from the events
   on record (`replay.rebuild_hours`, idempotent).

Killed anywhere, a second run finds the first run's events on record (duplicates) and still rebuilds
their hours, so the rollups end as if the file had been counted once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meterflow.application.count_usage import contributions
from meterflow.application.ports.usage import BackfillRecord, CountingCatalog, LateEventStore, RollupRewriter
from meterflow.application.replay import rebuild_hours
from meterflow.clock import Clock
from meterflow.domain.counting import CountableEvent
from meterflow.domain.errors import FieldError
from meterflow.domain.event_record import EventOnRecord, Position
from meterflow.domain.events import AcceptancePolicy, Event, EventRejected, decode_json, parse_event
from meterflow.domain.late_events import find_late
from meterflow.domain.modes import Mode
from meterflow.domain.periods import align_to_hour
from meterflow.domain.replay import hour_runs

# Any age is accepted by the parser (the Timestamp domain still bounds it to 2000-2199); the window is
# checked the other way round below.
_ANY_AGE = timedelta(days=366 * 250)
_HOUR = timedelta(hours=1)


@dataclass
class BackfillReport:
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rebuilt_hours: int = 0


@dataclass(frozen=True)
class _Valid:
    line: int
    event: Event
    countable: CountableEvent


@dataclass(frozen=True)
class Backfill:
    catalog: CountingCatalog
    record: BackfillRecord
    rollups: RollupRewriter
    late_events: LateEventStore
    clock: Clock
    window: timedelta
    future_tolerance: timedelta
    source: str  # the Position topic of backfilled events on record, e.g. "backfill:usage-2025.ndjson"

    async def run(self, mode: Mode, lines: Iterable[str], chunk: int = 1_000,
                  on_chunk: Callable[[BackfillReport], Awaitable[None]] | None = None) -> BackfillReport:
        report, seen, hours = BackfillReport(), set[str](), defaultdict[str, set[datetime]](set)
        batch: list[tuple[int, str]] = []

        async def settle() -> None:
            await self._chunk(mode, batch, report, seen, hours)
            batch.clear()
            if on_chunk:
                await on_chunk(report)

        for number, text in enumerate(lines, start=1):
            if text.strip():
                batch.append((number, text))
            if len(batch) >= chunk:
                await settle()
        if batch:
            await settle()
        for name, starts in hours.items():
            for period in hour_runs(starts):
                await rebuild_hours(self.catalog, self.record, self.rollups, mode, period, name)
                report.rebuilt_hours += round((period.end - period.start) / _HOUR)
        return report

    async def _chunk(self, mode: Mode, batch: list[tuple[int, str]], report: BackfillReport, seen: set[str],
                     hours: dict[str, set[datetime]]) -> None:
        now = self.clock.now()
        valid = await self._validate(mode, batch, now, report)
        fresh: list[_Valid] = []
        on_record = await self.record.keys_on_record(mode, [v.event.idempotency_key for v in valid])
        for item in valid:
            key = item.event.idempotency_key
            hours[item.event.event_name].add(align_to_hour(item.event.timestamp))
            if key in seen or key in on_record:
                report.duplicates += 1
            else:
                fresh.append(item)
            seen.add(key)
        if fresh:
            periods = await self.late_events.finalized_periods(
                mode, [v.event.customer_id for v in fresh], min(v.event.timestamp for v in fresh))
            late = find_late([v.countable for v in fresh], periods)
            await self.late_events.record(late)
            report.late += len(late)
        await self.record.add([EventOnRecord(mode, v.event.idempotency_key, v.event.customer_id, v.event.event_name,
                                             v.event.timestamp, v.event.properties, now,
                                             Position(self.source, 0, v.line)) for v in fresh])
        report.accepted += len(fresh)

    async def _validate(self, mode: Mode, batch: list[tuple[int, str]], now: datetime,
                        report: BackfillReport) -> list[_Valid]:
        policy = AcceptancePolicy(_ANY_AGE, self.future_tolerance)
        parsed: list[tuple[int, Event]] = []
        for number, text in batch:
            try:
                event = parse_event(decode_json(text), now, policy, size_hint=len(text))
            except EventRejected as exc:
                report.rejected.append((number, f"{exc.param}: {exc.message}" if exc.param else exc.message))
                continue
            except (ValueError, UnicodeError) as exc:
                report.rejected.append((number, f"not JSON: {exc}"))
                continue
            if event.timestamp >= now - self.window:
                report.rejected.append((number, f"timestamp: is within the acceptance window ({self.window}); "
                                                "send it to /v1/ingest"))
                continue
            parsed.append((number, event))
        customers = await self.catalog.existing_customer_ids(mode, {e.customer_id for _, e in parsed})
        rules = await self.catalog.metric_rules(mode, {e.event_name for _, e in parsed})
        valid: list[_Valid] = []
        for number, event in parsed:
            if event.customer_id not in customers:
                report.rejected.append((number, f"customer_id: no customer {event.customer_id!r} in {mode} mode"))
                continue
            try:
                adds = contributions(event, rules)
            except FieldError as exc:
                report.rejected.append((number, f"{exc.param}: {exc.message}"))
                continue
            valid.append(_Valid(number, event, CountableEvent(mode, event.idempotency_key, event.customer_id,
                                                              event.event_name, event.timestamp, adds)))
        return valid

