"""The ops commands on the events on record (billing.md §6): `explain` an invoice from its events."""

from __future__ import annotations

import sys

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.postgres import create_pool
from meterflow.application.events_on_record import explain
from meterflow.domain.errors import MeterflowError
from meterflow.domain.events import format_timestamp
from meterflow.domain.modes import Mode
from meterflow.settings import Settings


async def explain_invoice(settings: Settings, invoice_id: str, mode: Mode) -> int:
    """Exit status 1 when any line disagrees with its events (or the invoice is not found): a figure that
    the events cannot explain is what ops must look at."""
    pool = await create_pool(settings.database_dsn, max_size=2)
    try:
        invoice, checks = await explain(InvoiceRepository(pool), CatalogRepository(pool),
                                        EventRecordRepository(pool), mode, invoice_id)
    except MeterflowError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"{invoice.id}  {invoice.status.value}  {invoice.customer_id}  "
          f"{format_timestamp(invoice.period.start)} → {format_timestamp(invoice.period.end)}")
    for check in checks:
        verdict = "ok" if check.agrees else "MISMATCH"
        print(f"line {check.position}  {check.metric_id}  invoiced {check.invoiced}  "
              f"from {check.events} events on record {check.recomputed}  {verdict}")
    mismatches = sum(not check.agrees for check in checks)
    print(f"{len(checks)} lines, {mismatches} mismatches", file=sys.stderr)
    return 1 if mismatches else 0
