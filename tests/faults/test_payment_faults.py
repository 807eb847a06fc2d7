"""kill -9 of the payment worker mid-charge: while the provider holds its request (attempt stored, no
answer yet), and after the provider charged but before the outcome was stored. After a restart every
invoice is paid, charged exactly once for exactly its total, and no attempt is left pending or unknown,
checked against the provider double's ledger and Postgres."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx

from meterflow.adapters.postgres import Pool
from tests.e2e.payments_stack import (
    WORKER,
    PaymentStack,
    customer_with_method,
    finalized_invoice,
    pay_api,
    payment_stack,
    payment_worker,
)
from tests.provider_doubles import ProviderDouble
from tests.support import ServiceProcess, eventually, unique

__all__ = ["pay_api", "payment_stack", "payment_worker"]  # fixtures
INVOICES = 4


async def _finalized(api: httpx.AsyncClient) -> dict[str, str]:
    """Invoice id → total, each of a customer of its own with a Paystack card."""
    totals = {}
    for n in range(INVOICES):
        subscription, _ = await customer_with_method(api, "paystack", unique("AUTH"), base_fee=f"{100 + n}.25")
        invoice = await finalized_invoice(api, subscription)
        totals[invoice["id"]] = invoice["total"]
    return totals


async def _settled(pool: Pool, invoices: list[str]) -> list[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT i.id, i.status, coalesce(string_agg(t.status, ',' ORDER BY t.attempt), '') AS s "
                            "FROM invoices i LEFT JOIN payment_transactions t ON t.invoice_id = i.id "
                            "WHERE i.id = ANY($1::text[]) GROUP BY i.id", invoices)
    return [(r["id"], r["status"], r["s"]) for r in rows]


async def _exactly_once(pool: Pool, stack: PaymentStack, totals: dict[str, str]) -> None:
    rows = await eventually(lambda: _settled(pool, list(totals)),
                            lambda rs: len(rs) == len(totals) and all(r[1] == "paid" for r in rs), 60)
    for invoice_id, _, statuses in rows:
        assert "pending" not in statuses and "unknown" not in statuses, (invoice_id, statuses)
        charges = stack.double.succeeded(invoice_id.replace("_", "-") + "-")
        assert len(charges) == 1, f"{invoice_id} charged {len(charges)} times"
        assert charges[0].amount == Decimal(totals[invoice_id]) * 100  # kobo
    paid = await pool.fetch("SELECT id, amount_paid, total FROM invoices WHERE id = ANY($1::text[])", list(totals))
    assert all(r["amount_paid"] == r["total"] for r in paid)


async def test_worker_killed_while_the_provider_holds_its_charges_charges_each_invoice_once(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, payment_worker: ServiceProcess, pool: Pool) -> None:
    double = payment_stack.double
    double.hold, double.held = asyncio.Event(), 0
    try:
        totals = await _finalized(pay_api)
        payment_worker.start(**{**WORKER, **payment_stack.overrides})
        await eventually(lambda: _held(double), lambda n: n >= INVOICES, 30)
        payment_worker.kill()  # every attempt stored, every request at the provider, no answer read
        payment_worker.start(**{**WORKER, **payment_stack.overrides})
        # After the leases expire the new worker verifies (never received yet) and sends each again,
        # under the same reference, while the first requests are still held.
        await eventually(lambda: _held(double), lambda n: n >= 2 * INVOICES, 30)
        double.hold.set()  # both copies of each charge reach the provider: one charges, one is a duplicate
        await _exactly_once(pool, payment_stack, totals)
    finally:
        double.hold = None


async def test_worker_killed_after_the_provider_charged_verifies_and_never_charges_again(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, payment_worker: ServiceProcess, pool: Pool) -> None:
    double = payment_stack.double
    double.hang_after_charge, double.hang_s = INVOICES, 8.0
    totals = await _finalized(pay_api)
    # Killed well within its 4 s wait for the answers; its leases (9 s) then expire for the next worker.
    payment_worker.start(**{**WORKER, **payment_stack.overrides, "payment_timeout_s": "4", "payment_lease_s": "9"})
    await eventually(lambda: _charged(double, totals), lambda n: n == INVOICES, 30)
    payment_worker.kill()  # charged at the provider, the answers never read, the outcomes never stored
    double.hang_after_charge = 0
    payment_worker.start(**{**WORKER, **payment_stack.overrides})
    await _exactly_once(pool, payment_stack, totals)


async def _held(double: ProviderDouble) -> int:
    return double.held


async def _charged(double: ProviderDouble, totals: dict[str, str]) -> int:
    return sum(1 for invoice_id in totals if double.succeeded(invoice_id.replace("_", "-") + "-"))
