"""Period close: every period whose end + grace has passed gets exactly one finalized invoice.

Run by the closer service on a timer and by ops (`meterflow close-periods --as-of … [--dry-run]`).
Safe to run late, twice, concurrently, or again after a crash: see PeriodCloseRepository.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.period_close_repository import PeriodCloseRepository
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.invoicing import compute_invoices
from meterflow.domain.catalog import Subscription
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.periods import Period

CHUNK_SIZE = 500
DRY_RUN_LIMIT = 100_000


@dataclass
class CloseSummary:
    periods_closed: int = 0
    invoices_written: int = 0
    already_invoiced: int = 0
    previews: list[Invoice] = field(default_factory=list)


@dataclass
class PeriodCloser:
    catalog: CatalogRepository
    usage: UsageStore
    repository: PeriodCloseRepository
    grace: timedelta

    async def close(self, as_of: datetime, now: datetime, subscription_id: str | None = None,
                    dry_run: bool = False, progress: Callable[[CloseSummary], None] | None = None) -> CloseSummary:
        """Close chunk after chunk until nothing is due (a subscription may be several periods behind).

        A dry run computes the next invoice of every due subscription and writes nothing.
        """
        async def compute(due: Sequence[Subscription]) -> list[Invoice]:
            return await compute_invoices(self.catalog, self.usage, [(s, s.current_period) for s in due], now,
                                          InvoiceStatus.FINALIZED)

        summary = CloseSummary()
        while True:
            result, invoices = await self.repository.close_chunk(
                as_of, self.grace, DRY_RUN_LIMIT if dry_run else CHUNK_SIZE, compute, subscription_id, dry_run)
            if result.subscriptions == 0:
                return summary
            summary.periods_closed += result.subscriptions
            summary.invoices_written += result.invoices_written
            summary.already_invoiced += result.already_invoiced
            if progress:
                progress(summary)
            if dry_run:
                summary.previews = invoices
                return summary

    async def reinvoice(self, subscription: Subscription, period: Period, now: datetime) -> Invoice | None:
        """Invoice a period again after its invoice was voided; None if a live invoice already covers it."""
        [invoice] = await compute_invoices(self.catalog, self.usage, [(subscription, period)], now,
                                           InvoiceStatus.FINALIZED)
        result = await self.repository.write_finalized([invoice])
        return invoice if result.invoices_written else None
