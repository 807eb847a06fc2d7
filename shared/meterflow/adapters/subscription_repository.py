"""SQL for subscriptions (read with their plan's billing interval): read, write and encode.

The lifecycle (start, advance, cancel at period end) is decided in `domain/catalog.py`; this module only
stores its outcome. `lock_due` is how two closers share the work: `FOR UPDATE SKIP LOCKED` hands each
due subscription to exactly one of them until its transaction ends.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import asyncpg

from meterflow.adapters.postgres import Executor, fetch_page
from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.close_failures import UnreadableSubscription
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period

_SELECT = "SELECT s.*, p.billing_period FROM subscriptions s JOIN plans p ON p.id = s.plan_id"


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        row["id"], Mode(row["mode"]), row["customer_id"], row["plan_id"], row["status"], row["anchor"],
        Period(row["current_period_start"], row["current_period_end"]), row["cancel_at_period_end"],
        row["canceled_at"], row["created_at"], BillingInterval(row["billing_period"]),
    )


class SubscriptionRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def subscription(self, mode: Mode, subscription_id: str, *, lock: bool = False) -> Subscription | None:
        row = await self._db.fetchrow(f"{_SELECT} WHERE s.mode = $1 AND s.id = $2"
                                      + (" FOR UPDATE OF s" if lock else ""), mode.value, subscription_id)
        return _subscription(row) if row else None

    async def subscriptions(self, mode: Mode, limit: int,
                            starting_after: str | None) -> tuple[list[Subscription], bool]:
        rows, more = await fetch_page(self._db, "subscriptions", mode, limit, starting_after)
        found = await self._db.fetch(f"{_SELECT} WHERE s.id = ANY($1::text[])", [r["id"] for r in rows])
        by_id = {r["id"]: _subscription(r) for r in found}
        return [by_id[r["id"]] for r in rows], more

    async def active_subscriptions_of(self, mode: Mode, customer_id: str) -> list[Subscription]:
        rows = await self._db.fetch(
            f"{_SELECT} WHERE s.mode = $1 AND s.customer_id = $2 AND s.status = $3 ORDER BY s.created_at",
            mode.value, customer_id, SubscriptionStatus.ACTIVE)
        return [_subscription(r) for r in rows]

    async def add_subscription(self, subscription: Subscription) -> None:
        s = subscription
        await self._db.execute(
            "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
            "current_period_end, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", s.id, s.mode.value,
            s.customer_id, s.plan_id, s.status, s.anchor, s.current_period.start, s.current_period.end,
            s.created_at)

    async def lock_due(self, ended_by: datetime, limit: int, only: str | None,
                       skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        rows = await self._db.fetch(
            f"{_SELECT} WHERE s.status = $1 AND s.current_period_end <= $2 "
            "AND ($3::text IS NULL OR s.id = $3) AND NOT s.id = ANY($5::text[]) "
            "ORDER BY s.current_period_end, s.id LIMIT $4 FOR UPDATE OF s SKIP LOCKED",
            SubscriptionStatus.ACTIVE, ended_by, only, limit, list(skip))
        due, unreadable = [], []
        for row in rows:
            try:
                due.append(_subscription(row))
            except ValueError as error:  # an enumeration value no code path writes
                unreadable.append(UnreadableSubscription(
                    row["id"], Mode(row["mode"]), Period(row["current_period_start"], row["current_period_end"]),
                    error))
        return due, unreadable

    async def save_lifecycle(self, subscriptions: Sequence[Subscription]) -> None:
        await self._db.executemany(
            "UPDATE subscriptions SET status = $2, current_period_start = $3, current_period_end = $4, "
            "cancel_at_period_end = $5, canceled_at = $6 WHERE id = $1",
            [(s.id, s.status, s.current_period.start, s.current_period.end, s.cancel_at_period_end,
              s.canceled_at) for s in subscriptions])
