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
        backfill = Backfill(CatalogRepository(pool), record, UsageStore.from_settings(redis, settings),
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
