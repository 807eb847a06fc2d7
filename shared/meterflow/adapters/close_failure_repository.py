"""SQL for close_failures: the periods the closer skipped, one row per subscription, for ops to list.

A row is upserted each time the period fails again (keeping when it first failed and counting attempts)
and deleted in the same transaction as the invoice that finally closes it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import asyncpg

from meterflow.adapters.postgres import Executor
from meterflow.domain.close_failures import CloseFailure, CloseStage
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period


def _failure(row: asyncpg.Record) -> CloseFailure:
    return CloseFailure(row["subscription_id"], Mode(row["mode"]), Period(row["period_start"], row["period_end"]),
                        CloseStage(row["stage"]), row["reason"], row["detail"], row["last_failed_at"])


class CloseFailureRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def record(self, failures: Sequence[CloseFailure]) -> None:
        await self._db.executemany(
            "INSERT INTO close_failures (subscription_id, mode, period_start, period_end, stage, reason, detail, "
            "first_failed_at, last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
            "ON CONFLICT (subscription_id) DO UPDATE SET mode = excluded.mode, "
            "period_start = excluded.period_start, period_end = excluded.period_end, stage = excluded.stage, "
            "reason = excluded.reason, detail = excluded.detail, last_failed_at = excluded.last_failed_at, "
            "attempts = close_failures.attempts + 1",
            [(f.subscription_id, f.mode.value, f.period.start, f.period.end, f.stage.value, f.reason, f.detail,
              f.failed_at) for f in failures])

    async def clear(self, subscription_ids: Collection[str]) -> None:
        await self._db.execute("DELETE FROM close_failures WHERE subscription_id = ANY($1::text[])",
                               list(subscription_ids))

    async def listing(self, limit: int, mode: Mode | None = None) -> list[CloseFailure]:
        """The newest first; of one mode when `mode` is given (the console), else of both (the CLI)."""
        rows = await self._db.fetch("SELECT * FROM close_failures WHERE $2::text IS NULL OR mode = $2 "
                                    "ORDER BY last_failed_at DESC, subscription_id LIMIT $1",
                                    limit, mode.value if mode else None)
        return [_failure(r) for r in rows]
