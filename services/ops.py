"""The ops commands behind the CLI: close periods, list late events, re-invoice a voided period."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import create_pool
from meterflow.application.period_close import CloseSummary
from meterflow.domain.events import format_timestamp
from meterflow.domain.invoices import InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.closer.worker import period_closer


def _progress(started_s: float) -> Callable[[CloseSummary], None]:
    def show(summary: CloseSummary) -> None:
        print(f"\r{summary.periods_closed} periods closed, {summary.invoices_written} invoices written "
              f"({time.monotonic() - started_s:.1f}s)", end="", file=sys.stderr, flush=True)
    return show


async def close_periods(settings: Settings, as_of: datetime, dry_run: bool, subscription_id: str | None) -> int:
    started_s = time.monotonic()
    async with period_closer(settings) as closer:
        summary = await closer.close(as_of, datetime.now(UTC), subscription_id, dry_run,
                                     progress=_progress(started_s))
    if summary.periods_closed:
        print(file=sys.stderr)
    for invoice in summary.previews:
        print(f"would invoice {invoice.subscription_id} {format_timestamp(invoice.period.start)} → "
              f"{format_timestamp(invoice.period.end)}: {invoice.total} {invoice.currency}")
    verb = "would close" if dry_run else "closed"
    print(f"{verb} {summary.periods_closed} periods as of {format_timestamp(as_of)}: "
          f"{summary.invoices_written} invoices written, {summary.already_invoiced} already invoiced "
          f"in {time.monotonic() - started_s:.2f}s")
    return 0


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


async def reinvoice(settings: Settings, invoice_id: str, mode: Mode) -> int:
    pool = await create_pool(settings.database_dsn)
    try:
        voided = await InvoiceRepository(pool).invoice(mode, invoice_id)
        subscription = await CatalogRepository(pool).subscription(mode, voided.subscription_id) if voided else None
    finally:
        await pool.close()
    if voided is None or subscription is None:
        print(f"error: no invoice {invoice_id} in {mode} mode", file=sys.stderr)
        return 1
    if voided.status is not InvoiceStatus.VOID:
        print(f"error: {invoice_id} is {voided.status}; only a void invoice's period is billed again", file=sys.stderr)
        return 1
    async with period_closer(settings) as closer:
        invoice = await closer.reinvoice(subscription, voided.period, datetime.now(UTC))
    if invoice is None:
        print("error: another live invoice already covers that period", file=sys.stderr)
        return 1
    print(invoice.id)
    return 0
