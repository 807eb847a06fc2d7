"""The ops commands behind the CLI: close periods, list close failures and late events, re-invoice a voided
period. Each takes the clock the CLI hands it; none reads the time itself."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from meterflow.adapters.close_failure_repository import CloseFailureRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.invoices import mode_of_invoice
from meterflow.application.period_close import CloseSummary
from meterflow.application.wallets import Wallets
from meterflow.clock import Clock
from meterflow.domain.close_failures import CloseFailure
from meterflow.domain.errors import MeterflowError
from meterflow.domain.events import format_timestamp
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.closer.bootstrap import period_closer
from services.closer.worker import report


def _progress(started_s: float) -> Callable[[CloseSummary], None]:
    def show(summary: CloseSummary) -> None:
        print(f"\r{summary.periods_closed} periods closed, {summary.invoices_written} invoices written "
              f"({time.monotonic() - started_s:.1f}s)", end="", file=sys.stderr, flush=True)
    return show


def _period(failure: CloseFailure) -> str:
    """A failed period as stored, whatever it holds: its bounds may be what made it fail (a naive
    year-1 -infinity cannot even be converted to UTC), so they are shown, not converted."""
    return f"{failure.period.start.isoformat()} → {failure.period.end.isoformat()}"


async def close_periods(settings: Settings, clock: Clock, as_of: datetime, dry_run: bool,
                        subscription_id: str | None) -> int:
    """Exit status 1 when any due period was skipped: ops scripts must notice, though the rest closed."""
    started_s = time.monotonic()
    async with period_closer(settings, clock) as closer:
        summary = await closer.periods.close(as_of, subscription_id, dry_run, progress=_progress(started_s))
    report(summary)
    if summary.periods_closed:
        print(file=sys.stderr)
    for invoice in summary.previews:
        print(f"would invoice {invoice.subscription_id} {format_timestamp(invoice.period.start)} → "
              f"{format_timestamp(invoice.period.end)}: {invoice.total} {invoice.currency}")
    for failure in summary.skipped:
        print(f"skipped {failure.subscription_id} {_period(failure)}: {failure.stage.value} failed: "
              f"{failure.reason}: {failure.detail}")
    verb = "would close" if dry_run else "closed"
    print(f"{verb} {summary.periods_closed} periods as of {format_timestamp(as_of)}: "
          f"{summary.invoices_written} invoices written, {summary.already_invoiced} already invoiced, "
          f"{len(summary.skipped)} skipped in {time.monotonic() - started_s:.2f}s")
    return 1 if summary.skipped else 0


async def list_close_failures(settings: Settings, limit: int) -> None:
    pool = await create_pool(settings.database_dsn)
    try:
        failures = await CloseFailureRepository(pool).listing(limit)
    finally:
        await pool.close()
    for f in failures:
        print(f"{format_timestamp(f.failed_at)}  {f.mode}  {f.subscription_id}  {_period(f)}  {f.stage.value}  "
              f"{f.reason}: {f.detail}")
    print(f"{len(failures)} periods skipped by the closer", file=sys.stderr)


async def list_late_events(settings: Settings, since: datetime | None, limit: int) -> None:
    pool = await create_pool(settings.database_dsn)
    try:
        events = await LateEventRepository(pool).listing(since, limit)
    finally:
        await pool.close()
    for e in events:
        print(f"{format_timestamp(e.detected_at) if e.detected_at else '-'}  {e.mode}  {e.customer_id}  "
              f"{e.event_name}  {e.idempotency_key}  event at {format_timestamp(e.event_timestamp)}  "
              f"finalized on {e.invoice_id}")
    print(f"{len(events)} late events", file=sys.stderr)


async def allow_overdraft(settings: Settings, clock: Clock, wallet_id: str, limit: str) -> int:
    pool = await create_pool(settings.database_dsn, max_size=1)
    try:
        wallet = await Wallets(partial(PostgresUnitOfWork, pool), clock, settings.org_id).allow_overdraft(
            wallet_id, limit)
    except MeterflowError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"{wallet.id}: overdraft down to -{wallet.overdraft_limit} {wallet.currency}")
    return 0


async def reinvoice(settings: Settings, clock: Clock, invoice_id: str, mode: Mode | None) -> int:
    """`mode`: a check; the invoice's own mode is found from its id."""
    async with period_closer(settings, clock) as closer:
        try:
            found = await mode_of_invoice(InvoiceRepository(closer.pool), invoice_id, mode)
            invoice = await closer.invoicing.reinvoice(found, invoice_id)
        except MeterflowError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
    print(invoice.id)
    return 0
