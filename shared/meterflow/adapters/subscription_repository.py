"""SQL for subscriptions (read with their plan's billing interval) and their waiting periods: read, write
and encode.

The lifecycle (start, advance, cancel at period end) is decided in `domain/catalog.py`; this module only
stores its outcome. `lock_due` and `lock_waiting` are how two closers share the work: `FOR UPDATE SKIP
LOCKED` hands each due subscription, and each waiting period, to exactly one of them until its
transaction ends.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TypedDict

import asyncpg

from meterflow.adapters.postgres import Executor, fetch_filtered_page
from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.close_failures import UnreadableSubscription
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period

_SELECT = "SELECT s.*, p.billing_period FROM subscriptions s JOIN plans p ON p.id = s.plan_id"
# A waiting period is read as its subscription on that period: every column but the current period's.
_WAITING_COLUMNS = ", ".join(f"s.{c}" for c in (
    "id", "mode", "customer_id", "plan_id", "status", "anchor", "cancel_at_period_end", "canceled_at", "created_at",
    "trial_ends_at", "updated_at", "stops_at", "first_period_start", "usage_from"))


class SubscriptionFilters(TypedDict, total=False):
    customer_id: str | None
    plan_id: str | None
    status: str | None


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        row["id"], Mode(row["mode"]), row["customer_id"], row["plan_id"], SubscriptionStatus(row["status"]),
        row["anchor"], Period(row["current_period_start"], row["current_period_end"]), row["cancel_at_period_end"],
        row["canceled_at"], row["created_at"], BillingInterval(row["billing_period"]), row["trial_ends_at"],
        row["updated_at"], row["stops_at"], row["first_period_start"], row["usage_from"],
    )


def _readable(rows: Sequence[asyncpg.Record]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
    """Each row read, or apart with its error, so that one bad row never fails the others."""
    due, unreadable = [], []
    for row in rows:
        try:
            due.append(_subscription(row))
        except ValueError as error:  # an enumeration value no code path writes
            unreadable.append(UnreadableSubscription(
                row["id"], Mode(row["mode"]), Period(row["current_period_start"], row["current_period_end"]), error))
    return due, unreadable


class SubscriptionRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def subscription(self, mode: Mode, subscription_id: str, *, lock: bool = False) -> Subscription | None:
        row = await self._db.fetchrow(f"{_SELECT} WHERE s.mode = $1 AND s.id = $2"
                                      + (" FOR UPDATE OF s" if lock else ""), mode.value, subscription_id)
        return _subscription(row) if row else None

    async def subscriptions(self, mode: Mode, limit: int, starting_after: str | None,
                            filters: SubscriptionFilters | None = None) -> tuple[list[Subscription], bool]:
        """A page, narrowed by each filter given (customer_id, plan_id, status)."""
        rows, more = await fetch_filtered_page(self._db, "subscriptions", mode, limit, starting_after,
                                               filters or {})
        by_id = await self.subscriptions_by_id([r["id"] for r in rows])
        return [by_id[r["id"]] for r in rows], more

    async def subscriptions_by_id(self, subscription_ids: Collection[str]) -> dict[str, Subscription]:
        found = await self._db.fetch(f"{_SELECT} WHERE s.id = ANY($1::text[])", list(subscription_ids))
        return {r["id"]: _subscription(r) for r in found}

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = (SubscriptionStatus.ACTIVE,)) -> list[Subscription]:
        rows = await self._db.fetch(
            f"{_SELECT} WHERE s.mode = $1 AND s.customer_id = $2 AND s.status = ANY($3::text[]) "
            "ORDER BY s.created_at", mode.value, customer_id, list(statuses))
        return [_subscription(r) for r in rows]

    async def active_subscriptions_by_customer(self, mode: Mode, customers: int,
                                               after: str | None) -> list[Subscription]:
        """The active subscriptions of the first `customers` customers (by id) with one, after the customer
        `after`: ordered by customer, then oldest first (the pages of `GET /v1/usage` across customers)."""
        rows = await self._db.fetch(
            f"WITH page AS (SELECT DISTINCT customer_id FROM subscriptions WHERE mode = $1 AND status = $2 "
            "AND ($3::text IS NULL OR customer_id > $3) ORDER BY customer_id LIMIT $4) "
            f"{_SELECT} WHERE s.mode = $1 AND s.status = $2 AND s.customer_id IN (SELECT customer_id FROM page) "
            "ORDER BY s.customer_id, s.created_at", mode.value, SubscriptionStatus.ACTIVE, after, customers)
        return [_subscription(r) for r in rows]

    async def lock_customer(self, mode: Mode, customer_id: str) -> None:
        """Serialises the subscription creates (and deletes) of one customer, so the double-billing guard
        sees every subscription the others commit."""
        await self._db.execute("SELECT 1 FROM customers WHERE mode = $1 AND id = $2 FOR UPDATE",
                               mode.value, customer_id)

    async def add_subscription(self, subscription: Subscription) -> None:
        s = subscription
        await self._db.execute(
            "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
            "current_period_end, created_at, trial_ends_at, updated_at, first_period_start, usage_from) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", s.id, s.mode.value, s.customer_id,
            s.plan_id, s.status, s.anchor, s.current_period.start, s.current_period.end, s.created_at,
            s.trial_ends_at, s.updated_at, s.first_period_start, s.usage_from)

    async def lock_due(self, ended_by: datetime, limit: int, only: str | None,
                       skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        rows = await self._db.fetch(
            f"{_SELECT} WHERE s.current_period_end > s.current_period_start AND s.current_period_end <= $1 "
            "AND ($2::text IS NULL OR s.id = $2) AND NOT s.id = ANY($4::text[]) "
            "ORDER BY s.current_period_end, s.id LIMIT $3 FOR UPDATE OF s SKIP LOCKED",
            ended_by, only, limit, list(skip))
        return _readable(rows)

    async def add_waiting_periods(self, subscription: Subscription, periods: Sequence[Period], at: datetime) -> None:
        """Queue ended periods for the closer; one already queued stays as it is."""
        await self._db.executemany(
            "INSERT INTO waiting_periods (subscription_id, mode, period_start, period_end, queued_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [(subscription.id, subscription.mode.value, p.start, p.end, at) for p in periods])

    async def lock_waiting(self, ended_by: datetime, limit: int, only: str | None,
                           skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        rows = await self._db.fetch(
            f"SELECT {_WAITING_COLUMNS}, p.billing_period, w.period_start AS current_period_start, "
            "w.period_end AS current_period_end FROM waiting_periods w JOIN subscriptions s ON s.id = "
            "w.subscription_id JOIN plans p ON p.id = s.plan_id WHERE w.period_end <= $1 "
            "AND ($2::text IS NULL OR w.subscription_id = $2) AND NOT w.subscription_id = ANY($4::text[]) "
            "ORDER BY w.period_end, w.subscription_id LIMIT $3 FOR UPDATE OF w SKIP LOCKED",
            ended_by, only, limit, list(skip))
        return _readable(rows)

    async def ended_periods(self, mode: Mode, subscription_ids: Collection[str]) -> dict[str, list[Period]]:
        """Each subscription's periods that ended: invoiced (in any status but draft) or waiting."""
        rows = await self._db.fetch(
            "SELECT subscription_id, period_start, period_end FROM invoices WHERE mode = $1 AND subscription_id = "
            "ANY($2::text[]) AND status <> 'draft' UNION SELECT subscription_id, period_start, period_end FROM "
            "waiting_periods WHERE mode = $1 AND subscription_id = ANY($2::text[])", mode.value, list(subscription_ids))
        ended: dict[str, list[Period]] = {}
        for row in rows:
            ended.setdefault(row["subscription_id"], []).append(Period(row["period_start"], row["period_end"]))
        return ended

    async def remove_waiting(self, closed: Sequence[Subscription]) -> None:
        await self._db.executemany(
            "DELETE FROM waiting_periods WHERE subscription_id = $1 AND period_start = $2",
            [(s.id, s.current_period.start) for s in closed])

    async def save_lifecycle(self, subscriptions: Sequence[Subscription]) -> None:
        await self._db.executemany(
            "UPDATE subscriptions SET status = $2, current_period_start = $3, current_period_end = $4, "
            "cancel_at_period_end = $5, canceled_at = $6, anchor = $7, trial_ends_at = $8, "
            "updated_at = COALESCE($9, updated_at), stops_at = $10 WHERE id = $1",
            [(s.id, s.status, s.current_period.start, s.current_period.end, s.cancel_at_period_end,
              s.canceled_at, s.anchor, s.trial_ends_at, s.updated_at, s.stops_at) for s in subscriptions])
