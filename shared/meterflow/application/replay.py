"""Running replay jobs (billing.md §6): one job at a time, claimed from the store, its hours rebuilt from
the events on record in chunks with progress, then written over the rollups (`domain/replay.py`).

Runs in the closer's service as a background loop, never inside an HTTP request. A job that fails is
marked failed with its reason; a worker killed mid-job leaves it processing, and it is claimed again once
stale (replay is idempotent: running it again from the start gives the same rollups). Finalized invoices
are never touched: a replay writes rollups only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from meterflow.application.ports import CountingCatalog, ReplayJobStore, ReplaySource, RollupRewriter
from meterflow.application.unit_of_work import UnitOfWorkFactory
from meterflow.application.webhook_outbox import record_webhooks
from meterflow.clock import Clock
from meterflow.domain.counting import Changes
from meterflow.domain.event_record import EventFilter
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.replay import ReplayJob, ReplayStatus, fold_replayed, hours_of
from meterflow.domain.webhooks import EventType


@dataclass(frozen=True)
class Replayer:
    jobs: ReplayJobStore
    catalog: CountingCatalog
    record: ReplaySource
    rollups: RollupRewriter
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

        await rebuild_hours(self.catalog, self.record, self.rollups, job.mode, hours_of(job.period),
                            job.event_name, progress)


async def rebuild_hours(catalog: CountingCatalog, record: ReplaySource, rollups: RollupRewriter, mode: Mode,
                        hours: Period, event_name: str | None,
                        progress: Callable[[int, int], Awaitable[None]] | None = None) -> int:
    """Rebuild the rollups of whole `hours` (of one event name, or of every name on record there) from
    the events on record; returns how many events were folded. Idempotent: the shared step of replay
    and backfill."""
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
        await rollups.replace_hours(mode, [r.metric_id for r in rules], hours, rebuilt)
    return replayed
