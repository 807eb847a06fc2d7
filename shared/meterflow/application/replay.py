"""Running replay jobs (docs/billing.md, "Replay"): one job at a time, claimed from the store, its hours rebuilt from
the events on record in chunks with progress, then written over the rollups (`domain/replay.py`).

Runs in the closer's service as a background loop, never inside an HTTP request. A job that fails is
marked failed with its reason; a worker killed mid-job leaves it processing, and it is claimed again once
stale (replay is idempotent: running it again from the start gives the same rollups). Finalized invoices
are never touched: a replay writes rollups only. Where it changes the figures of an hour inside a
finalized period, the events on record there are reported as late events for that invoice (docs/billing.md,
"Replay"): the invoice stays as it was, and ops see which events it no longer agrees with. The report is
idempotent (one late event per key), so a replay run twice reports nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.ports.usage import (
    CountingCatalog,
    EventRecordReader,
    LateEventStore,
    ReplayJobs,
    ReplayJobStore,
    ReplaySource,
    RollupRewriter,
)
from meterflow.application.webhook_outbox import record_webhooks
from meterflow.clock import Clock
from meterflow.domain.counting import Changes, CountableEvent
from meterflow.domain.event_record import EventFilter
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.late_events import find_late
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.replay import ReplayJob, ReplayStatus, fold_replayed, hour_runs, hours_of, in_finalized_period
from meterflow.domain.usage_windows import checked_window
from meterflow.domain.webhooks import EventType


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: how many events it folded, and which (customer, event name, hour start)
    changed figures."""

    replayed: int
    changed: list[tuple[str, str, datetime]]


@dataclass(frozen=True)
class Replayer:
    jobs: ReplayJobStore
    catalog: CountingCatalog
    record: ReplaySource
    rollups: RollupRewriter
    late_events: LateEventStore
    clock: Clock
    # A job's end is written with its webhook event (replay.completed or replay.failed), in one transaction.
    unit_of_work: UnitOfWorkFactory = field(kw_only=True)
    org_id: str = field(kw_only=True)

    async def run_next(self) -> ReplayJob | None:
        """Claim and run the oldest waiting job; None when there is none."""
        job = await self.jobs.claim(self.clock.now())
        if job is None:
            return None
        try:
            await self._run(job)
        except Exception as exc:
            await self._finish(job, ReplayStatus.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        await self._finish(job, ReplayStatus.COMPLETED, None)
        return job

    async def _finish(self, job: ReplayJob, status: ReplayStatus, error: str | None) -> None:
        now = self.clock.now()
        event = EventType.REPLAY_COMPLETED if status is ReplayStatus.COMPLETED else EventType.REPLAY_FAILED
        async with self.unit_of_work() as uow:
            finished = await uow.replay_jobs.finish(job.id, status, error, now)
            if finished is not None:
                await record_webhooks(uow.webhooks, self.org_id, [(event, finished)], now)
            await uow.commit()

    async def _run(self, job: ReplayJob) -> None:
        async def progress(total: int, replayed: int) -> None:
            await self.jobs.progress(job.id, total, replayed, self.clock.now())

        rebuilt = await rebuild_hours(self.catalog, self.record, self.rollups, job.mode, hours_of(job.period),
                                      job.event_name, progress)
        await report_finalized_changes(job.mode, rebuilt.changed, self.record, self.late_events)


async def rebuild_hours(catalog: CountingCatalog, record: ReplaySource, rollups: RollupRewriter, mode: Mode,
                        hours: Period, event_name: str | None,
                        progress: Callable[[int, int], Awaitable[None]] | None = None) -> Rebuilt:
    """Rebuild the rollups of whole `hours` (of one event name, or of every name on record there) from
    the events on record. Idempotent: the shared step of replay and backfill."""
    wanted = EventFilter(start=hours.start, end=hours.end,
                         event_names=(event_name,) if event_name is not None else None)
    names = [event_name] if event_name is not None else await record.event_names(mode, wanted)
    rules = await catalog.metric_rules(mode, names)
    wanted = EventFilter(event_names=tuple(names), start=hours.start, end=hours.end)
    async with record.rebuilding():  # from the first read of the record to the last rollup written
        total, replayed, rebuilt = await record.count(mode, wanted), 0, Changes()
        if progress:
            await progress(total, 0)
        async for chunk in record.scan(mode, wanted):
            rebuilt = fold_replayed(chunk, rules, rebuilt)
            replayed += len(chunk)
            if progress:
                await progress(total, replayed)
        changed = await rollups.replace_hours(mode, [r.metric_id for r in rules], hours, rebuilt)
    names_of = {r.metric_id: r.event_name for r in rules}
    return Rebuilt(replayed, sorted({(c.customer_id, names_of[c.metric_id], c.start) for c in changed}))


async def report_finalized_changes(mode: Mode, changed: Sequence[tuple[str, str, datetime]],
                                   record: EventRecordReader, late_events: LateEventStore) -> int:
    """Report as late events the events on record of every changed hour that lies in a finalized period
    of its customer; returns how many were found (already reported ones are not recorded twice)."""
    if not changed:
        return 0
    periods = await late_events.finalized_periods(mode, [c for c, _, _ in changed], min(t for _, _, t in changed))
    hours: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for customer, name, start in changed:
        if in_finalized_period(customer, start, periods):
            hours[(customer, name)].append(start)
    found = 0
    for (customer, name), starts in hours.items():
        for run in hour_runs(starts):
            wanted = EventFilter(customer_id=customer, event_names=(name,), start=run.start, end=run.end)
            async for chunk in record.scan(mode, wanted):
                late = find_late([CountableEvent(mode, e.idempotency_key, e.customer_id, e.event_name, e.timestamp, ())
                                  for e in chunk], periods)
                await late_events.record(late)
                found += len(late)
    return found


RECORD_RETENTION = "the events-on-record retention"


async def start_replay(jobs: ReplayJobs, mode: Mode, start: datetime, end: datetime, event_name: str | None,
                       kept: timedelta) -> ReplayJob:
    """A pending job rebuilding `[start, end)` (widened to whole hours by the worker) from the events on
    record; refused when the window is empty or longer than they are `kept`. The API and the console both
    start replays here."""
    window = checked_window(start, end, kept, RECORD_RETENTION)
    return await jobs.create(new_id(IdKind.REPLAY_JOB), mode, window, event_name)
