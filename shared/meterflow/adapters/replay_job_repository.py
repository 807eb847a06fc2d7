"""SQL for replay jobs (domain/replay.py): created by the API, claimed by one worker at a time."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from meterflow.adapters.postgres import Executor
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.replay import ReplayJob, ReplayStatus

# A job whose worker stopped reporting progress this long ago (killed) is claimed again: replay is
# idempotent, so running it again from the start is safe.
STALE_AFTER_S = 300


def _job(row: asyncpg.Record) -> ReplayJob:
    return ReplayJob(row["id"], Mode(row["mode"]), ReplayStatus(row["status"]),
                     Period(row["from_timestamp"], row["to_timestamp"]), row["event_name"], row["events_total"],
                     row["events_replayed"], row["error_message"], row["started_at"], row["completed_at"],
                     row["created_at"], row["updated_at"])


class ReplayJobRepository:
    def __init__(self, pool: Executor) -> None:
        self._pool = pool

    async def create(self, job_id: str, mode: Mode, period: Period, event_name: str | None) -> ReplayJob:
        row = await self._pool.fetchrow(
            "INSERT INTO replay_jobs (id, mode, status, from_timestamp, to_timestamp, event_name) "
            "VALUES ($1, $2, 'pending', $3, $4, $5) RETURNING *", job_id, mode.value, period.start, period.end,
            event_name)
        assert row is not None
        return _job(row)

    async def job(self, mode: Mode, job_id: str) -> ReplayJob | None:
        row = await self._pool.fetchrow("SELECT * FROM replay_jobs WHERE mode = $1 AND id = $2", mode.value, job_id)
        return _job(row) if row else None

    async def jobs(self, mode: Mode, limit: int) -> list[ReplayJob]:
        """The newest first."""
        rows = await self._pool.fetch("SELECT * FROM replay_jobs WHERE mode = $1 ORDER BY created_at DESC, id DESC "
                                      "LIMIT $2", mode.value, limit)
        return [_job(r) for r in rows]

    async def claim(self, now: datetime) -> ReplayJob | None:
        """The oldest waiting job (or one whose worker went silent), marked processing; two workers never
        take the same one (SKIP LOCKED)."""
        row = await self._pool.fetchrow(
            "UPDATE replay_jobs SET status = 'processing', started_at = $1, updated_at = $1, events_replayed = 0 "
            "WHERE id = (SELECT id FROM replay_jobs WHERE status = 'pending' OR (status = 'processing' AND "
            "updated_at < $1::timestamptz - make_interval(secs => $2)) "
            "ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *", now, STALE_AFTER_S)
        return _job(row) if row else None

    async def progress(self, job_id: str, total: int, replayed: int, now: datetime) -> None:
        await self._pool.execute("UPDATE replay_jobs SET events_total = $2, events_replayed = $3, updated_at = $4 "
                                 "WHERE id = $1", job_id, total, replayed, now)

    async def finish(self, job_id: str, status: ReplayStatus, error: str | None, now: datetime) -> ReplayJob | None:
        row = await self._pool.fetchrow("UPDATE replay_jobs SET status = $2, error_message = $3, completed_at = $4, "
                                        "updated_at = $4 WHERE id = $1 RETURNING *", job_id, status.value, error, now)
        return _job(row) if row else None
