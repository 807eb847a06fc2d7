"""SQL for collection: payment methods, attempts (transactions), the collection queue, provider events
seen and hosted-checkout setups. Reads, writes and encodes; what a write means is decided in
domain/payments.py and the use cases.

The queue is claimed like the webhook deliveries: due rows are locked `FOR UPDATE … SKIP LOCKED`, leased
(`claimed_until`, `claim_token`) and the transaction ends; a worker killed mid-charge leaves a lease that
expires, and the next claim verifies the attempt's reference before anything else. Every change to the
queue notifies `NOTIFY_CHANNEL` at commit, so that a worker waiting for work wakes at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from meterflow.adapters.postgres import Executor
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Claim, PaymentMethod, Provider, Setup, Transaction, TransactionStatus

NOTIFY_CHANNEL = "meterflow_payments"

# The collection rule of docs/payments.md ("What happens on finalize"), applied in one statement for a whole
# period close: finalized, of a `collection` plan, a total above zero, and a customer with a default method.
_QUEUE_FINALIZED = """
    INSERT INTO payment_queue (invoice_id, mode, due_at, created_at, updated_at)
    SELECT i.id, i.mode, $2, $2, $2 FROM invoices i
    JOIN subscriptions s ON s.id = i.subscription_id JOIN plans p ON p.id = s.plan_id
    WHERE i.id = ANY($1::text[]) AND i.status = 'finalized' AND i.total > 0 AND p.plan_type = 'collection'
      AND EXISTS (SELECT 1 FROM payment_methods m WHERE m.customer_id = i.customer_id AND m.is_default
                  AND m.deleted_at IS NULL)
    ON CONFLICT (invoice_id) DO NOTHING
"""

_CLAIM = """
    WITH due AS (
        SELECT invoice_id FROM payment_queue
        WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
        ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
    UPDATE payment_queue q SET claimed_until = $3, claim_token = $4 FROM due WHERE q.invoice_id = due.invoice_id
    RETURNING q.invoice_id, q.mode, q.payment_method_id, q.due_at
"""

_TRANSACTION_COLUMNS = ("id, mode, invoice_id, payment_method_id, provider, reference, amount, currency, status, "
                        "attempt, created_at, updated_at, failure_reason, next_attempt_at, provider_transaction_id")


def _method(r: asyncpg.Record) -> PaymentMethod:
    return PaymentMethod(r["id"], Mode(r["mode"]), r["customer_id"], Provider(r["provider"]), r["token"], r["brand"],
                         r["last4"], r["exp_month"], r["exp_year"], r["email"], r["is_default"], r["created_at"],
                         r["updated_at"])


def _transaction(r: asyncpg.Record) -> Transaction:
    return Transaction(r["id"], Mode(r["mode"]), r["invoice_id"], r["payment_method_id"], Provider(r["provider"]),
                       r["reference"], r["amount"], r["currency"], TransactionStatus(r["status"]), r["attempt"],
                       r["created_at"], r["updated_at"], r["failure_reason"], r["next_attempt_at"],
                       r["provider_transaction_id"])


def _setup(r: asyncpg.Record) -> Setup:
    return Setup(r["reference"], Mode(r["mode"]), r["customer_id"], Provider(r["provider"]), r["email"],
                 r["authorization_url"], r["payment_method_id"], r["created_at"])


class PaymentRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def _notify(self) -> None:
        await self._db.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)

    async def customer_exists(self, mode: Mode, customer_id: str) -> bool:
        found: bool = await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM customers WHERE mode = $1 AND id = $2 AND deleted_at IS NULL)",
            mode.value, customer_id)
        return found

    async def plan_type_of(self, mode: Mode, invoice_id: str) -> str | None:
        found: str | None = await self._db.fetchval(
            "SELECT p.plan_type FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id "
            "JOIN plans p ON p.id = s.plan_id WHERE i.mode = $1 AND i.id = $2", mode.value, invoice_id)
        return found

    # Payment methods.
    async def add_method(self, m: PaymentMethod) -> None:
        if m.is_default:
            await self._clear_default(m.customer_id, m.created_at)
        await self._db.execute(
            "INSERT INTO payment_methods (id, mode, customer_id, provider, token, brand, last4, exp_month, "
            "exp_year, email, is_default, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            m.id, m.mode.value, m.customer_id, m.provider.value, m.token, m.brand, m.last4, m.exp_month, m.exp_year,
            m.email, m.is_default, m.created_at, m.updated_at)

    async def _clear_default(self, customer_id: str, at: datetime) -> None:
        await self._db.execute("UPDATE payment_methods SET is_default = false, updated_at = $2 "
                               "WHERE customer_id = $1 AND is_default", customer_id, at)

    async def methods(self, mode: Mode, customer_id: str) -> list[PaymentMethod]:
        rows = await self._db.fetch("SELECT * FROM payment_methods WHERE mode = $1 AND customer_id = $2 "
                                    "AND deleted_at IS NULL ORDER BY created_at DESC, id DESC", mode.value, customer_id)
        return [_method(r) for r in rows]

    async def method(self, mode: Mode, method_id: str, *, include_deleted: bool = False) -> PaymentMethod | None:
        row = await self._db.fetchrow("SELECT * FROM payment_methods WHERE mode = $1 AND id = $2"
                                      + ("" if include_deleted else " AND deleted_at IS NULL"), mode.value, method_id)
        return _method(row) if row else None

    async def default_method(self, mode: Mode, customer_id: str) -> PaymentMethod | None:
        row = await self._db.fetchrow("SELECT * FROM payment_methods WHERE mode = $1 AND customer_id = $2 "
                                      "AND is_default AND deleted_at IS NULL", mode.value, customer_id)
        return _method(row) if row else None

    async def make_default(self, method: PaymentMethod, at: datetime) -> None:
        await self._clear_default(method.customer_id, at)
        await self._db.execute("UPDATE payment_methods SET is_default = true, updated_at = $2 WHERE id = $1",
                               method.id, at)

    async def delete_method(self, method: PaymentMethod, at: datetime) -> None:
        await self._db.execute("UPDATE payment_methods SET deleted_at = $2, is_default = false, updated_at = $2 "
                               "WHERE id = $1", method.id, at)

    # Attempts.
    async def add_transaction(self, t: Transaction) -> None:
        await self._db.execute(
            f"INSERT INTO payment_transactions ({_TRANSACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
            "$10, $11, $12, $13, $14, $15)", t.id, t.mode.value, t.invoice_id, t.payment_method_id, t.provider.value,
            t.reference, t.amount, t.currency, t.status.value, t.attempt, t.created_at, t.updated_at,
            t.failure_reason, t.next_attempt_at, t.provider_transaction_id)

    async def save_transaction(self, t: Transaction) -> None:
        await self._db.execute(
            "UPDATE payment_transactions SET status = $2, updated_at = $3, failure_reason = $4, next_attempt_at = $5, "
            "provider_transaction_id = $6 WHERE id = $1", t.id, t.status.value, t.updated_at, t.failure_reason,
            t.next_attempt_at, t.provider_transaction_id)

    async def transactions(self, mode: Mode, invoice_id: str) -> list[Transaction]:
        rows = await self._db.fetch("SELECT * FROM payment_transactions WHERE mode = $1 AND invoice_id = $2 "
                                    "ORDER BY attempt", mode.value, invoice_id)
        return [_transaction(r) for r in rows]

    async def transaction_by_reference(self, reference: str) -> Transaction | None:
        row = await self._db.fetchrow("SELECT * FROM payment_transactions WHERE reference = $1", reference)
        return _transaction(row) if row else None

    # The collection queue.
    async def queue_finalized(self, invoices: Sequence[Invoice], at: datetime) -> None:
        await self._db.execute(_QUEUE_FINALIZED, [i.id for i in invoices], at)
        await self._notify()

    async def schedule(self, mode: Mode, invoice_id: str, due_at: datetime, method_id: str | None,
                       at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO payment_queue (invoice_id, mode, payment_method_id, due_at, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (invoice_id) DO UPDATE SET due_at = $4, "
            "payment_method_id = $3, claimed_until = NULL, claim_token = NULL, updated_at = $5",
            invoice_id, mode.value, method_id, due_at, at)
        await self._notify()

    async def finish(self, invoice_id: str) -> None:
        await self._db.execute("DELETE FROM payment_queue WHERE invoice_id = $1", invoice_id)

    async def claim(self, now: datetime, limit: int, lease_until: datetime, token: str) -> list[Claim]:
        rows = await self._db.fetch(_CLAIM, now, limit, lease_until, token)
        return [Claim(r["invoice_id"], Mode(r["mode"]), r["payment_method_id"], r["due_at"], token, lease_until)
                for r in rows]

    async def oldest_due(self, now: datetime) -> datetime | None:
        value: datetime | None = await self._db.fetchval("SELECT min(due_at) FROM payment_queue WHERE due_at <= $1",
                                                         now)
        return value

    # Provider events and hosted-checkout setups.
    async def note_event(self, provider: Provider, event_id: str, mode: Mode, at: datetime) -> bool:
        noted = await self._db.fetchval(
            "INSERT INTO provider_events (provider, event_id, mode, received_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING RETURNING true", provider.value, event_id, mode.value, at)
        return bool(noted)

    async def seen_event(self, provider: Provider, event_id: str) -> bool:
        seen: bool = await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM provider_events WHERE provider = $1 AND event_id = $2)",
            provider.value, event_id)
        return seen

    async def add_setup(self, s: Setup) -> None:
        await self._db.execute(
            "INSERT INTO payment_setups (reference, mode, customer_id, provider, email, authorization_url, "
            "payment_method_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", s.reference, s.mode.value,
            s.customer_id, s.provider.value, s.email, s.authorization_url, s.payment_method_id, s.created_at)

    async def setup(self, reference: str, *, lock: bool = False) -> Setup | None:
        row = await self._db.fetchrow("SELECT * FROM payment_setups WHERE reference = $1"
                                      + (" FOR UPDATE" if lock else ""), reference)
        return _setup(row) if row else None

    async def complete_setup(self, reference: str, method_id: str) -> None:
        await self._db.execute("UPDATE payment_setups SET payment_method_id = $2 WHERE reference = $1",
                               reference, method_id)
