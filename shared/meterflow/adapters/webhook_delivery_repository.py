"""SQL for webhook deliveries and their attempts log: claim, record, release, list, retry now.

Claiming is how several workers share the work without sending one attempt twice: due deliveries are
locked `FOR NO KEY UPDATE … SKIP LOCKED` together with their endpoint's row (so one endpoint's run goes
to one worker at a time), then leased (`claimed_until`, `claim_token`) and the transaction ends. An
outcome is written only where the token still matches: a worker whose lease ran out (killed, stalled)
cannot log an attempt over the claim that replaced it.

Per-endpoint order (docs/api.md, "Webhooks"): a delivery is not claimed while an older delivery (earlier event)
to the same endpoint is pending, leased by a worker, and due no later than it. Older deliveries due now
are claimed in the same batch, first, and a worker sends one endpoint's batch in event order. An older
delivery waiting out its backoff does not hold the newer ones back (its next attempt is due later).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from meterflow.adapters.postgres import Executor, Pool, fetch_filtered_page
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import Attempt, AttemptOutcome, Delivery, DeliveryStatus, DueDelivery, FailedAttempts

# Endpoints are locked first (SKIP LOCKED), then their due deliveries: a claim takes an endpoint's due
# deliveries whole or not at all. Locking deliveries and endpoints in one SKIP LOCKED scan let two claims
# each lock part of one endpoint's rows (a row skipped for its endpoint stays locked), so one claimed a
# single delivery and the rest waited for the next round.
_CLAIM = """
    WITH ready AS (
        SELECT e.id FROM webhook_endpoints e
        WHERE e.status = 'enabled' AND e.deleted_at IS NULL
          AND EXISTS (
              SELECT 1 FROM webhook_deliveries d
              WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= $1
                AND (d.claimed_until IS NULL OR d.claimed_until < $1))
        FOR NO KEY UPDATE SKIP LOCKED),
    due AS (
        SELECT d.id FROM webhook_deliveries d JOIN ready ON ready.id = d.endpoint_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= $1
          AND (d.claimed_until IS NULL OR d.claimed_until < $1)
          AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries o
              WHERE o.endpoint_id = d.endpoint_id AND o.status = 'pending' AND o.claimed_until >= $1
                AND o.next_attempt_at <= d.next_attempt_at
                AND (o.event_created_at, o.event_id) < (d.event_created_at, d.event_id))
        ORDER BY d.event_created_at, d.event_id
        LIMIT $2
        FOR NO KEY UPDATE OF d)
    UPDATE webhook_deliveries w SET claimed_until = $3, claim_token = $4
    FROM due, webhook_endpoints e, webhook_events v
    WHERE w.id = due.id AND e.id = w.endpoint_id AND v.id = w.event_id
    RETURNING w.id, w.mode, w.endpoint_id, w.event_id, w.event_created_at, w.attempts, e.url, e.secret, v.payload
"""

_RECORD = """
    WITH o AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::int[],
                             $7::text[], $8::timestamptz[], $9::int[], $10::timestamptz[])
        AS o(id, token, attempt, status, next_at, code, error, started, ms, at)),
    done AS (
        UPDATE webhook_deliveries w SET status = o.status, attempts = o.attempt, next_attempt_at = o.next_at,
            last_status_code = o.code, last_error = o.error, claimed_until = NULL, claim_token = NULL,
            updated_at = o.at
        FROM o WHERE w.id = o.id AND w.claim_token = o.token
        RETURNING w.id)
    INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error)
    SELECT o.id, o.attempt, o.started, o.ms, o.code, o.error FROM o WHERE o.id IN (SELECT id FROM done)
    ON CONFLICT DO NOTHING
"""


def _delivery(row: asyncpg.Record, history: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(row["id"], Mode(row["mode"]), row["endpoint_id"], row["event_id"], row["event_type"],
                    DeliveryStatus(row["status"]), row["attempts"], row["last_status_code"], row["last_error"],
                    row["next_attempt_at"], row["created_at"], row["updated_at"], tuple(history))


class WebhookDeliveryRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def claim(self, now: datetime, limit: int, lease_until: datetime, token: str) -> list[DueDelivery]:
        """Up to `limit` due deliveries, leased to `token` until `lease_until`, in event order."""
        rows = await self._db.fetch(_CLAIM, now, limit, lease_until, token)
        rows = sorted(rows, key=lambda r: (r["event_created_at"], r["event_id"]))
        return [DueDelivery(r["id"], Mode(r["mode"]), r["endpoint_id"], r["url"], r["secret"], r["event_id"],
                            r["payload"], r["attempts"], token, lease_until) for r in rows]

    async def record(self, outcomes: Sequence[AttemptOutcome], at: datetime) -> None:
        """Each attempt and the delivery's state after it, where the claim still holds its lease."""
        if not outcomes:
            return
        await self._db.execute(
            _RECORD, [o.delivery_id for o in outcomes], [o.claim_token for o in outcomes],
            [o.attempt.number for o in outcomes], [o.status.value for o in outcomes],
            [o.next_attempt_at for o in outcomes], [o.attempt.status_code for o in outcomes],
            [o.attempt.error for o in outcomes], [o.attempt.started_at for o in outcomes],
            [o.attempt.duration_ms for o in outcomes], [at] * len(outcomes))

    async def release(self, delivery_ids: Sequence[str], token: str) -> None:
        """Give claimed deliveries back unsent (their lease would not cover another attempt)."""
        await self._db.execute("UPDATE webhook_deliveries SET claimed_until = NULL, claim_token = NULL "
                               "WHERE id = ANY($1::text[]) AND claim_token = $2", list(delivery_ids), token)

    async def delivery(self, mode: Mode, delivery_id: str) -> Delivery | None:
        row = await self._db.fetchrow("SELECT * FROM webhook_deliveries WHERE mode = $1 AND id = $2",
                                      mode.value, delivery_id)
        return _delivery(row) if row else None

    async def deliveries(self, mode: Mode, endpoint_id: str, limit: int,
                         starting_after: str | None) -> tuple[list[Delivery], bool]:
        """A page of an endpoint's deliveries, newest first, each with its attempts log."""
        rows, more = await fetch_filtered_page(self._db, "webhook_deliveries", mode, limit, starting_after,
                                               {"endpoint_id": endpoint_id})
        attempts = await self._db.fetch("SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::text[]) "
                                        "ORDER BY delivery_id, attempt", [r["id"] for r in rows])
        history: dict[str, list[Attempt]] = {r["id"]: [] for r in rows}
        for a in attempts:
            history[a["delivery_id"]].append(Attempt(a["attempt"], a["started_at"], a["duration_ms"],
                                                     a["status_code"], a["error"]))
        return [_delivery(r, history[r["id"]]) for r in rows], more

    async def retry_now(self, mode: Mode, delivery_id: str, now: datetime) -> Delivery | None:
        """Due now, whatever its state; a claim in flight loses its lease (its outcome is not logged)."""
        row = await self._db.fetchrow(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, claimed_until = NULL, "
            "claim_token = NULL, updated_at = $3 WHERE mode = $1 AND id = $2 RETURNING *",
            mode.value, delivery_id, now)
        return _delivery(row) if row else None

    async def failed_attempts(self, mode: Mode, since: datetime) -> list[FailedAttempts]:
        """Failed attempts per endpoint and UTC hour, from `since` on (the console's webhook health)."""
        rows = await self._db.fetch(
            "SELECT d.endpoint_id, date_trunc('hour', a.started_at AT TIME ZONE 'UTC') AS hour, count(*) AS n "
            "FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
            "WHERE d.mode = $1 AND a.started_at >= $2 "
            "AND (a.error IS NOT NULL OR a.status_code IS NULL OR a.status_code NOT BETWEEN 200 AND 299) "
            "GROUP BY 1, 2 ORDER BY 2, 1", mode.value, since)
        return [FailedAttempts(r["endpoint_id"], r["hour"].replace(tzinfo=UTC), r["n"]) for r in rows]


async def oldest_due(pool: Pool, now: datetime) -> datetime | None:
    """When the oldest delivery due to an enabled endpoint fell due (the queue's age)."""
    value: datetime | None = await pool.fetchval(
        "SELECT min(d.next_attempt_at) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
        "WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.status = 'enabled' AND e.deleted_at IS NULL",
        now)
    return value


async def events_created_at(pool: Pool, delivery_ids: Sequence[str]) -> dict[str, datetime]:
    """When the event each delivery carries was recorded (the change → first attempt delay, a metric)."""
    rows = await pool.fetch("SELECT d.id, v.created_at FROM webhook_deliveries d JOIN webhook_events v "
                            "ON v.id = d.event_id WHERE d.id = ANY($1::text[])", list(delivery_ids))
    return {row["id"]: row["created_at"] for row in rows}
