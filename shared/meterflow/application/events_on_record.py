"""Reading the events on record back (docs/billing.md, "Events on record"): an invoice's events, and `explain`, each
line's quantity recomputed from the events beside the invoice's figure.

An invoice line's events are the counted events of its customer whose event name its metric reads and
whose timestamp is in the range the invoice's period bills (`start_allowance.billed_range`: the period
`[start, end)`, reaching back by the start allowance for a subscription's first period): exactly what the
line's quantity aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterflow.application.invoicing import billed_quantity
from meterflow.application.ports.catalog import InvoiceCatalog
from meterflow.application.ports.usage import EventRecordReader, InvoiceLookup
from meterflow.domain.catalog import Metric
from meterflow.domain.errors import FieldError, NotFound
from meterflow.domain.event_record import EventFilter, EventOnRecord, fold_events
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Rollup, merge_all
from meterflow.domain.start_allowance import billed_range
from meterflow.domain.usage import PeriodUsage


@dataclass(frozen=True)
class InvoiceOnRecord:
    """An invoice with what reading its events needs: its metrics and the usage range it bills."""

    invoice: Invoice
    metrics: dict[str, Metric]
    billed: Period


@dataclass(frozen=True)
class LineCheck:
    """One invoice line beside its quantity recomputed from the events on record."""

    position: int
    metric_id: str
    invoiced: Decimal
    recomputed: Decimal
    events: int

    @property
    def agrees(self) -> bool:
        return self.invoiced == self.recomputed


async def invoice_on_record(invoices: InvoiceLookup, catalog: InvoiceCatalog, mode: Mode,
                            invoice_id: str) -> InvoiceOnRecord:
    invoice = await invoices.invoice(mode, invoice_id)
    if invoice is None:
        raise NotFound("invoice", invoice_id, "id")
    subscription = await catalog.subscription(mode, invoice.subscription_id)
    billed = billed_range(subscription, invoice.period) if subscription else invoice.period
    return InvoiceOnRecord(invoice, await catalog.metrics_by_id(mode, {line.metric_id for line in invoice.lines}),
                           billed)


def invoice_filter(found: InvoiceOnRecord, line: int | None = None) -> EventFilter:
    """The events behind the invoice (or behind its line at `line`, counting from 0)."""
    invoice, metrics = found.invoice, found.metrics
    if line is not None and not 0 <= line < len(invoice.lines):
        raise FieldError("line", f"must be a line position from 0 to {len(invoice.lines) - 1}")
    lines = invoice.lines if line is None else invoice.lines[line:line + 1]
    names = tuple(sorted({metrics[item.metric_id].event_name for item in lines if item.metric_id in metrics}))
    return EventFilter(customer_id=invoice.customer_id, event_names=names, start=found.billed.start,
                       end=found.billed.end)


async def invoice_events(invoices: InvoiceLookup, catalog: InvoiceCatalog, record: EventRecordReader,
                         mode: Mode, invoice_id: str, line: int | None, limit: int,
                         starting_after: str | None) -> tuple[list[EventOnRecord], bool]:
    found = await invoice_on_record(invoices, catalog, mode, invoice_id)
    return await record.page(mode, invoice_filter(found, line), limit, starting_after)


async def explain(invoices: InvoiceLookup, catalog: InvoiceCatalog, record: EventRecordReader, mode: Mode,
                  invoice_id: str) -> tuple[InvoiceOnRecord, list[LineCheck]]:
    """Each line's quantity from the events on record, folded chunk by chunk (a period of millions of
    events is never held in memory), beside the invoice's figure."""
    found = await invoice_on_record(invoices, catalog, mode, invoice_id)
    invoice, metrics = found.invoice, found.metrics
    lines = [(i, item, metrics.get(item.metric_id)) for i, item in enumerate(invoice.lines)]
    rollups: dict[int, list[Rollup]] = {i: [] for i, _, _ in lines}
    values: dict[int, set[str]] = {i: set() for i, _, _ in lines}
    async for chunk in record.scan(mode, invoice_filter(found)):
        for i, _, metric in lines:
            if metric is not None:
                rollup, seen = fold_events(metric.rule, chunk)
                rollups[i].append(rollup)
                values[i] |= seen
    return found, [_check(i, item.metric_id, item.quantity, metric, rollups[i], values[i])
                     for i, item, metric in lines]


def _check(position: int, metric_id: str, invoiced: Decimal, metric: Metric | None, rollups: list[Rollup],
           values: set[str]) -> LineCheck:
    merged = merge_all(rollups)
    recomputed = billed_quantity(metric, PeriodUsage(merged, len(values))) if metric else Decimal(0)
    return LineCheck(position, metric_id, invoiced, recomputed, merged.events + merged.unbillable)
