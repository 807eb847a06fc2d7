"""The ops commands on the events on record (billing.md §6): `explain` an invoice from its events, and
`backfill` a file of old events."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.backfill import Backfill, BackfillReport
from meterflow.application.events_on_record import explain
from meterflow.clock import Clock
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


def _lines(source: str) -> Iterator[str]:
    if source == "-":
        yield from sys.stdin
        return
    with Path(source).open(encoding="utf-8", errors="surrogateescape") as lines:
        yield from lines


async def backfill_file(settings: Settings, clock: Clock, mode: Mode, source: str) -> int:
    """Prints each rejected line with its reason, then the totals; exit status 1 when any line was
    rejected (the rest is still backfilled, and a re-run changes nothing)."""
    pool = await create_pool(settings.database_dsn, max_size=2)
    redis = connect_redis(settings.redis_dsn)
    started_s = time.monotonic()

    async def show(report: BackfillReport) -> None:
        print(f"\r{report.accepted} accepted, {report.duplicates} duplicates, {len(report.rejected)} rejected "
              f"({time.monotonic() - started_s:.1f}s)", end="", file=sys.stderr, flush=True)

    try:
        record = EventRecordRepository(pool)
        backfill = Backfill(CatalogRepository(pool), record, UsageStore.from_settings(redis, settings),
                            LateEventRepository(pool), clock, timedelta(seconds=settings.dedupe_window_s),
                            timedelta(seconds=settings.clock_skew_s), f"backfill:{Path(source).name}")
        report = await backfill.run(mode, _lines(source), on_chunk=show)
    finally:
        await redis.aclose()
        await pool.close()
    print(file=sys.stderr)
    for number, reason in report.rejected:
        print(f"line {number}: rejected: {reason}")
    print(f"accepted {report.accepted}, duplicates {report.duplicates}, rejected {len(report.rejected)}, "
          f"late {report.late} (in finalized periods, reported: meterflow late-events); "
          f"{report.rebuilt_hours} hours of usage rebuilt")
    return 1 if report.rejected else 0
