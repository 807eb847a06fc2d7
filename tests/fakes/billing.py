"""In-memory fakes of the billing ports, for unit tests of the use cases (never for anything else).

They keep the guarantees the use cases rely on, the same ones tests/integration/test_billing_stores.py
checks against the real Postgres adapters: a unit of work keeps nothing unless committed, a savepoint
undoes only what was written inside it, and at most one live invoice per (subscription, period) is
inserted, whatever the caller does.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from meterflow.domain.catalog import Customer, Metric, Plan, Subscription, SubscriptionStatus
from meterflow.domain.close_failures import CloseFailure, UnreadableSubscription
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.payments import PaymentMethod, Setup, Transaction
from meterflow.domain.periods import Period
from meterflow.domain.pricing import parse_price
from meterflow.domain.replay import ReplayJob, ReplayStatus
from meterflow.domain.rollups import COUNTED, Observation, Rollup, fold
from meterflow.domain.usage import PeriodUsage, UsageQuery
from meterflow.domain.webhooks import NewDelivery, WebhookEndpoint, WebhookEvent
from tests.fakes.alerts import AlertTables, FakeAlertStates
from tests.fakes.payments import FakePayments, QueueRow
from tests.fakes.wallets import FakeWallets, WalletTables


@dataclass
class Tables:
    invoices: dict[str, Invoice] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    waiting: dict[tuple[str, datetime], Period] = field(default_factory=dict)  # (subscription, start) → period
    close_failures: dict[str, CloseFailure] = field(default_factory=dict)
    unreadable: list[UnreadableSubscription] = field(default_factory=list)  # rows only a hand could write
    customers: dict[str, Customer] = field(default_factory=dict)
    webhook_endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    webhook_events: dict[str, WebhookEvent] = field(default_factory=dict)
    webhook_deliveries: dict[str, NewDelivery] = field(default_factory=dict)
    plan_types: dict[str, str] = field(default_factory=dict)  # plan id → plan_type (absent: collection)
    payment_methods: dict[str, PaymentMethod] = field(default_factory=dict)
    deleted_methods: set[str] = field(default_factory=set)
    payment_transactions: dict[str, Transaction] = field(default_factory=dict)
    payment_queue: dict[str, QueueRow] = field(default_factory=dict)  # by invoice id
    provider_events: set[tuple[str, str]] = field(default_factory=set)
    payment_setups: dict[str, Setup] = field(default_factory=dict)
    wallets: WalletTables = field(default_factory=WalletTables)
    alerts: AlertTables = field(default_factory=AlertTables)


class FakeInvoices:
    def __init__(self, tables: Tables, refuse: Collection[str] = ()) -> None:
        self._tables, self.refuse = tables, set(refuse)

    async def invoice(self, mode: Mode, invoice_id: str, *, lock: bool = False) -> Invoice | None:
        found = self._tables.invoices.get(invoice_id)
        return found if found and found.mode is mode else None

    async def live_invoices(self, keys: Sequence[tuple[str, datetime]], *,
                            lock: bool = False) -> dict[tuple[str, datetime], Invoice]:
        wanted = set(keys)
        return {i.period_key: i for i in self._tables.invoices.values()
                if i.period_key in wanted and i.status is not InvoiceStatus.VOID}

    async def insert(self, invoices: Sequence[Invoice]) -> set[str]:
        self._check(invoices)
        inserted = set()
        for invoice in invoices:
            if not await self.live_invoices([invoice.period_key]):  # the unique index, as Postgres has it
                self._tables.invoices[invoice.id] = invoice
                inserted.add(invoice.id)
        return inserted

    async def replace_drafts(self, invoices: Sequence[Invoice], at: datetime) -> None:
        self._check(invoices)
        for invoice in invoices:
            if self._tables.invoices[invoice.id].status is InvoiceStatus.DRAFT:
                self._tables.invoices[invoice.id] = invoice

    async def save_status(self, invoice: Invoice, at: datetime | None = None) -> None:
        self._tables.invoices[invoice.id] = invoice

    def _check(self, invoices: Sequence[Invoice]) -> None:
        """Refuse a write that carries a refused subscription's invoice, as a database error would."""
        if any(i.subscription_id in self.refuse for i in invoices):
            raise ValueError("refused by the fake database")


class FakeSubscriptions:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def subscription(self, mode: Mode, subscription_id: str, *, lock: bool = False) -> Subscription | None:
        found = self._tables.subscriptions.get(subscription_id)
        return found if found and found.mode is mode else None

    async def add_subscription(self, subscription: Subscription) -> None:
        self._tables.subscriptions[subscription.id] = subscription

    async def active_subscriptions_of(self, mode: Mode, customer_id: str,
                                      statuses: Sequence[str] = (SubscriptionStatus.ACTIVE,)) -> list[Subscription]:
        return [s for s in self._tables.subscriptions.values()
                if s.mode is mode and s.customer_id == customer_id and s.status in statuses]

    async def lock_customer(self, mode: Mode, customer_id: str) -> None:
        return None

    async def lock_due(self, ended_by: datetime, limit: int, only: str | None,
                       skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        due = [s for s in self._tables.subscriptions.values() if s.bills
               and s.current_period.end <= ended_by and only in (None, s.id) and s.id not in skip]
        unreadable = [u for u in self._tables.unreadable if u.subscription_id not in skip]
        return sorted(due, key=lambda s: (s.current_period.end, s.id))[:limit], unreadable

    async def add_waiting_periods(self, subscription: Subscription, periods: Sequence[Period], at: datetime) -> None:
        for p in periods:
            self._tables.waiting.setdefault((subscription.id, p.start), p)

    async def lock_waiting(self, ended_by: datetime, limit: int, only: str | None,
                           skip: Collection[str]) -> tuple[list[Subscription], list[UnreadableSubscription]]:
        due = [replace(self._tables.subscriptions[sid], current_period=p)
               for (sid, _), p in self._tables.waiting.items()
               if p.end <= ended_by and only in (None, sid) and sid not in skip]
        return sorted(due, key=lambda s: (s.current_period.end, s.id))[:limit], []

    async def remove_waiting(self, closed: Sequence[Subscription]) -> None:
        for s in closed:
            self._tables.waiting.pop((s.id, s.current_period.start), None)

    async def save_lifecycle(self, subscriptions: Sequence[Subscription]) -> None:
        for s in subscriptions:
            self._tables.subscriptions[s.id] = replace(self._tables.subscriptions[s.id], status=s.status,
                                                       current_period=s.current_period,
                                                       cancel_at_period_end=s.cancel_at_period_end,
                                                       canceled_at=s.canceled_at, anchor=s.anchor,
                                                       trial_ends_at=s.trial_ends_at, stops_at=s.stops_at,
                                                       updated_at=s.updated_at
                                                       or self._tables.subscriptions[s.id].updated_at)


class FakeCloseFailures:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def record(self, failures: Sequence[CloseFailure]) -> None:
        self._tables.close_failures |= {f.subscription_id: f for f in failures}

    async def clear(self, subscription_ids: Collection[str]) -> None:
        for subscription_id in subscription_ids:
            self._tables.close_failures.pop(subscription_id, None)

    async def listing(self, limit: int) -> list[CloseFailure]:
        ordered = sorted(self._tables.close_failures.values(), key=lambda f: (f.failed_at, f.subscription_id),
                         reverse=True)
        return ordered[:limit]


class FakeCustomers:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def add_customer(self, customer: Customer) -> None:
        self._tables.customers[customer.id] = customer

    async def delete_customer(self, mode: Mode, customer_id: str, at: datetime) -> bool:
        return self._tables.customers.pop(customer_id, None) is not None


class FakeReplayJobs:
    async def finish(self, job_id: str, status: ReplayStatus, error: str | None, now: datetime) -> ReplayJob | None:
        return None


class FakeWebhookOutbox:
    """The outbox: events and their deliveries, kept (or rolled back) with the unit of work."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def enabled_endpoints(self, modes: Collection[Mode]) -> list[WebhookEndpoint]:
        return [e for e in self._tables.webhook_endpoints.values() if e.mode in modes]

    async def add(self, events: Sequence[WebhookEvent], deliveries: Sequence[NewDelivery]) -> None:
        self._tables.webhook_events.update({e.id: e for e in events})
        self._tables.webhook_deliveries.update({d.id: d for d in deliveries})


class FakeDatabase:
    """The committed tables, and a unit-of-work factory over them (`db.unit_of_work`)."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.refuse_invoices_of: set[str] = set()
        self.commits = 0

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeUnitOfWork:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._tables = copy.deepcopy(db.tables)
        self.invoices = FakeInvoices(self._tables, db.refuse_invoices_of)
        self.subscriptions = FakeSubscriptions(self._tables)
        self.close_failures = FakeCloseFailures(self._tables)
        self.customers = FakeCustomers(self._tables)
        self.replay_jobs = FakeReplayJobs()
        self.webhooks = FakeWebhookOutbox(self._tables)
        self.payments = FakePayments(self._tables)
        self.wallets = FakeWallets(self._tables)
        self.alerts = FakeAlertStates(self._tables)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def commit(self) -> None:
        self._db.tables = copy.deepcopy(self._tables)
        self._db.commits += 1

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        saved = copy.deepcopy(self._tables)
        try:
            yield
        except BaseException:
            # The stores share this Tables object: restoring its fields restores what they all see.
            for table in fields(Tables):
                kept = getattr(saved, table.name)
                if is_dataclass(kept):  # a room's own tables, held by its fake: restored in place
                    for column in fields(kept):
                        setattr(getattr(self._tables, table.name), column.name, getattr(kept, column.name))
                else:
                    setattr(self._tables, table.name, kept)
            raise


@dataclass
class FakeCatalog:
    plans: dict[str, Plan] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    # Plans whose stored price no longer parses (written around the API): reading one raises, as the real
    # catalog's parse on load does.
    unparseable: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]:
        found = {i: self.plans[i] for i in ids if i in self.plans and self.plans[i].mode is mode}
        for plan_id in found.keys() & self.unparseable.keys():
            parse_price(self.unparseable[plan_id])
        return found

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]:
        return {i: self.metrics[i] for i in ids if i in self.metrics and self.metrics[i].mode is mode}


@dataclass
class FakeUsage:
    """Events as (metric, customer, timestamp, value); a value None is a counted event without value."""

    events: list[tuple[str, str, datetime, Decimal | None]] = field(default_factory=list)
    reads: int = 0
    unreachable: bool = False  # answer like a Redis that is down

    def record(self, metric_id: str, customer_id: str, at: datetime, value: Decimal | None = None) -> None:
        self.events.append((metric_id, customer_id, at, value))

    async def usage(self, queries: Sequence[UsageQuery], known: Collection[Metric] = ()) -> list[PeriodUsage]:
        self.reads += 1
        if self.unreachable:
            raise ConnectionError("redis is down")
        figures = []
        for q in queries:
            rollup = Rollup()
            for metric_id, customer_id, at, value in self.events:
                if (metric_id, customer_id) == (q.metric_id, q.customer_id) and q.period.contains(at):
                    rollup = fold(rollup, COUNTED if value is None else Observation(value=value))
            figures.append(PeriodUsage(rollup, 0))
        return figures
