"""Period close: every period whose end + grace has passed gets exactly one finalized invoice.

Run by the closer service on a timer and by ops (`meterflow close-periods --as-of … [--dry-run]`). The use
case owns its transaction: one unit of work per chunk locks up to CHUNK_SIZE due subscriptions and up to
CHUNK_SIZE waiting periods (`SKIP LOCKED`: two closers share the work), computes their invoices, writes
them through the one write path, moves each subscription on (domain `advance`) or takes each waiting
period off the queue, and commits. A kill -9 rolls the chunk back whole: never an invoice without its
advanced subscription or its dequeued period, nor the reverse. Safe to run late, twice or concurrently.

A waiting period is one a resume left uninvoiced (domain `resume`): several of one subscription may wait
at once, beside its current period, and each is invoiced exactly once like any other.

One subscription can never stop the others (docs/billing.md, "Invoices and period close"): a period whose invoice cannot
be computed or written is skipped for the rest of the run, recorded with its reason in the same transaction, and tried
again on the next run; every other period of the chunk is still closed in the same batched writes (see isolation.py).
Only an unreachable dependency stops a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meterflow.application.collection_outbox import queue_collection
from meterflow.application.invoicing import compute_invoices, write_invoices
from meterflow.application.isolation import IsTransient, in_isolation
from meterflow.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from meterflow.application.ports.usage import CatalogReader, UsageReader
from meterflow.application.wallets import pay_from_wallets
from meterflow.application.webhook_outbox import invoice_changes, record_webhooks, subscription_changes
from meterflow.clock import Clock
from meterflow.domain.alerts import AlertFiring
from meterflow.domain.catalog import Subscription, advance
from meterflow.domain.close_failures import CloseFailure, CloseStage, UnreadableSubscription, check_billable
from meterflow.domain.invoices import Invoice, InvoiceStatus

CHUNK_SIZE = 500
DRY_RUN_LIMIT = 100_000


@dataclass(frozen=True)
class DuePeriod:
    """A period to invoice: a subscription's current period, or a waiting one (the subscription read on
    that period, which is not moved on once it is invoiced)."""

    subscription: Subscription
    waiting: bool = False


@dataclass(frozen=True)
class Close:
    """One due period, computed: its invoice, and the subscription as it will be once that is written
    (None for a waiting period: its queue row goes instead)."""

    due: DuePeriod
    invoice: Invoice
    following: Subscription | None


@dataclass
class CloseSummary:
    periods_closed: int = 0
    invoices_written: int = 0
    already_invoiced: int = 0
    skipped: list[CloseFailure] = field(default_factory=list)
    previews: list[Invoice] = field(default_factory=list)
    alerts_fired: list[AlertFiring] = field(default_factory=list)  # balance alerts of wallet-first payments


@dataclass(frozen=True)
class PeriodCloser:
    catalog: CatalogReader
    usage: UsageReader
    unit_of_work: UnitOfWorkFactory
    clock: Clock
    grace: timedelta
    usage_retention: timedelta
    is_transient: IsTransient
    chunk_size: int = CHUNK_SIZE
    org_id: str = field(kw_only=True)  # shown in the objects webhook events carry
    auto_collect: bool = field(default=True, kw_only=True)  # finalized invoices go to the payment queue

    async def close(self, as_of: datetime, subscription_id: str | None = None, dry_run: bool = False,
                    progress: Callable[[CloseSummary], None] | None = None) -> CloseSummary:
        """Close chunk after chunk until nothing is due (a subscription may be several periods behind).

        A dry run computes the next invoice of every due subscription, and reports what it could not
        compute, and writes nothing.
        """
        summary = CloseSummary()
        skip: set[str] = set()  # failed in this run: retried next run, not in the next chunk
        while True:
            async with self.unit_of_work() as uow:
                limit = DRY_RUN_LIMIT if dry_run else self.chunk_size
                current, unreadable = await uow.subscriptions.lock_due(as_of - self.grace, limit, subscription_id,
                                                                       skip)
                waiting, unreadable_waiting = await uow.subscriptions.lock_waiting(as_of - self.grace, limit,
                                                                                   subscription_id, skip)
                due = [DuePeriod(s) for s in current] + [DuePeriod(s, waiting=True) for s in waiting]
                unreadable += unreadable_waiting
                if not due and not unreadable:
                    return summary
                await self._close_chunk(uow, due, unreadable, summary, dry_run)
            skip |= {f.subscription_id for f in summary.skipped}
            if progress:
                progress(summary)
            if dry_run:
                return summary

    async def _close_chunk(self, uow: UnitOfWork, due: Sequence[DuePeriod],
                           unreadable: Sequence[UnreadableSubscription], summary: CloseSummary,
                           dry_run: bool) -> None:
        now = self.clock.now()
        computed = await in_isolation(due, self._compute, self.is_transient)
        failures = [CloseFailure.of(u.subscription_id, u.mode, u.period, CloseStage.READ, u.error, now)
                    for u in unreadable]
        failures += _failures([(d.subscription, error) for d, error in computed.failed], CloseStage.COMPUTE, now)
        summary.skipped += failures
        if dry_run:
            summary.previews = [close.invoice for _, close in computed.done]
            summary.periods_closed = len(summary.previews)
            return

        async def write(closes: Sequence[Close]) -> list[Close]:
            async with uow.savepoint():
                return await self._write(uow, closes, summary, now)

        writes = await in_isolation([close for _, close in computed.done], write, self.is_transient)
        write_failures = _failures([(c.due.subscription, error) for c, error in writes.failed], CloseStage.WRITE, now)
        summary.skipped += write_failures
        await uow.close_failures.record(failures + write_failures)
        await uow.close_failures.clear([close.due.subscription.id for close, _ in writes.done])
        await uow.commit()
        summary.periods_closed += len(writes.done)

    async def _compute(self, due: Sequence[DuePeriod]) -> list[Close]:
        oldest_usage = self.clock.now() - self.usage_retention
        for d in due:
            check_billable(d.subscription.current_period, oldest_usage)
        invoices = await compute_invoices(self.catalog, self.usage,
                                          [(d.subscription, d.subscription.current_period) for d in due],
                                          self.clock.now(), InvoiceStatus.FINALIZED)
        return [Close(d, invoice, None if d.waiting else advance(d.subscription))
                for invoice, d in zip(invoices, due, strict=True)]

    async def _write(self, uow: UnitOfWork, closes: Sequence[Close], summary: CloseSummary,
                     now: datetime) -> list[Close]:
        """Write a group's invoices, advance its subscriptions and dequeue its waiting periods. The summary
        counts them only once every write is done: a group that fails is undone by its savepoint and
        retried in halves."""
        written = await write_invoices(uow.invoices, [close.invoice for close in closes], now)
        moved = [(close.due.subscription, close.following) for close in closes if close.following is not None]
        await uow.subscriptions.save_lifecycle([following for _, following in moved])
        await uow.subscriptions.remove_waiting([c.due.subscription for c in closes if c.following is None])
        # The group's webhook events (invoices created and finalized, a cancel at period end taking effect)
        # in its savepoint: a group undone takes its events with it.
        changes = invoice_changes(written.created, written.invoices) + subscription_changes(moved)
        await record_webhooks(uow.webhooks, self.org_id, changes, now)
        paid = await pay_from_wallets(uow, written.invoices, self.org_id, now)  # wallet first, in this savepoint
        await queue_collection(uow.payments, paid.invoices, now, self.auto_collect)  # then the rest, same savepoint
        summary.alerts_fired += paid.alerts_fired
        summary.invoices_written += len(written.invoices)
        summary.already_invoiced += len(written.already_invoiced)
        return list(closes)


def _failures(failed: Sequence[tuple[Subscription, Exception]], stage: CloseStage,
              at: datetime) -> list[CloseFailure]:
    return [CloseFailure.of(s.id, s.mode, s.current_period, stage, error, at) for s, error in failed]
