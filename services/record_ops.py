"""The ops commands on the events on record (docs/billing.md, "Events on record"): `explain` an invoice from its events,
and `backfill` a file of old events."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.application.backfill import Backfill, BackfillReport
from meterflow.application.events_on_record import InvoiceOnRecord, explain
from meterflow.application.invoices import mode_of_invoice
from meterflow.application.unbilled import UnbilledUsage
from meterflow.clock import Clock
from meterflow.domain.errors import MeterflowError
from meterflow.domain.events import format_timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.settings import Settings
from services.exact_usage import waiting_usage
from services.wiring import usage_store

UNBILLED_LOOKBACK = timedelta(hours=1)


async def explain_invoice(settings: Settings, clock: Clock, invoice_id: str, mode: Mode | None) -> int:
    """Exit status 1 when any line disagrees with its events (or the invoice is not found): a figure that
    the events cannot explain is what ops must look at. The invoice's mode is found from its id; a
    `mode` given must agree. Unbilled usage of the line metrics around the period is listed after them."""
    pool = await create_pool(settings.database_dsn, max_size=2)
    redis = connect_redis(settings.redis_dsn)
    try:
        invoices, catalog, record = InvoiceRepository(pool), CatalogRepository(pool), EventRecordRepository(pool)
        mode = await mode_of_invoice(invoices, invoice_id, mode)
        found, checks = await explain(invoices, catalog, record, mode, invoice_id)
        usage = waiting_usage(pool, usage_store(redis, settings), catalog, settings, clock)
        unbilled = await UnbilledUsage(catalog, usage).of_customer(mode, found.invoice.customer_id, _near(found),
                                                                   {line.metric_id for line in found.invoice.lines})
    except MeterflowError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
        await pool.close()
    invoice = found.invoice
    print(f"{invoice.id}  {invoice.status.value}  {invoice.customer_id}  "
          f"{format_timestamp(invoice.period.start)} → {format_timestamp(invoice.period.end)}  "
          f"(usage billed from {format_timestamp(found.billed.start)})")
    for check in checks:
        verdict = "ok" if check.agrees else "MISMATCH"
        print(f"line {check.position}  {check.metric_id}  invoiced {check.invoiced}  "
              f"from {check.events} events on record {check.recomputed}  {verdict}")
    for row in unbilled:
        print(f"unbilled  {row.metric.id}  {row.reason.value}  {format_timestamp(row.period.start)} → "
              f"{format_timestamp(row.period.end)}  {row.value} from {row.events} events")
    mismatches = sum(not check.agrees for check in checks)
    print(f"{len(checks)} lines, {mismatches} mismatches, {len(unbilled)} unbilled spans", file=sys.stderr)
    return 1 if mismatches else 0


def _near(found: InvoiceOnRecord) -> Period:
    """Where unbilled usage touches the invoice: its period, and the hour before the usage it bills (where
    a client's clock just missed the start)."""
    return Period(found.billed.start - UNBILLED_LOOKBACK, found.invoice.period.end)


class _Source:
    """The lines of a file (or of stdin for `-`), and how far into it the reading is: bytes of a file,
    lines of stdin, whose size is not known."""

    def __init__(self, source: str) -> None:
        self.source, self.read = source, 0
        self.size = None if source == "-" else Path(source).stat().st_size

    def lines(self) -> Iterator[str]:
        if self.source == "-":
            for line in sys.stdin:
                self.read += 1
                yield line
            return
        with Path(self.source).open("rb") as lines:
            for raw in lines:
                self.read += len(raw)
                yield raw.decode("utf-8", errors="surrogateescape")


@contextmanager
def _progress(source: _Source) -> Iterator[Callable[[BackfillReport], Awaitable[None]]]:
    """A progress bar on a terminal (its counts beside it); nothing when stderr is a file or a pipe, where
    a redrawn line would only clutter a log."""
    if not sys.stderr.isatty():
        async def quiet(report: BackfillReport) -> None:
            return None
        yield quiet
        return
    columns = (TextColumn("backfill"), BarColumn(), TaskProgressColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("", total=source.size)

        async def show(report: BackfillReport) -> None:
            bar.update(task, completed=source.read, description=f"{report.accepted} accepted, "
                       f"{report.duplicates} duplicates, {len(report.rejected)} rejected")
        yield show
        bar.update(task, completed=source.size or source.read)


async def backfill_file(settings: Settings, clock: Clock, mode: Mode, source: str) -> int:
    """Prints each rejected line with its reason, then the totals; exit status 1 when any line was
    rejected (the rest is still backfilled, and a re-run changes nothing)."""
    pool = await create_pool(settings.database_dsn, max_size=2)
    redis = connect_redis(settings.redis_dsn)
    lines = _Source(source)
    try:
        record = EventRecordRepository(pool)
        backfill = Backfill(CatalogRepository(pool), record, usage_store(redis, settings),
                            LateEventRepository(pool), clock, timedelta(seconds=settings.dedupe_window_s),
                            timedelta(seconds=settings.clock_skew_s), f"backfill:{Path(source).name}")
        with _progress(lines) as show:
            report = await backfill.run(mode, lines.lines(), on_chunk=show)
    finally:
        await redis.aclose()
        await pool.close()
    for number, reason in report.rejected:
        print(f"line {number}: rejected: {reason}")
    print(f"accepted {report.accepted}, duplicates {report.duplicates}, rejected {len(report.rejected)}, "
          f"late {report.late} (in finalized periods, reported: meterflow late-events); "
          f"{report.rebuilt_hours} hours of usage rebuilt")
    return 1 if report.rejected else 0
