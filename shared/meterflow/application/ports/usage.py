"""The small ports use cases take. Adapters satisfy them structurally (no import of this module needed);
unit tests hand in fakes, and the contract suites in tests/ check the fakes against the real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from meterflow.domain.accounting import HourTally, Receipt
from meterflow.domain.catalog import Metric, Plan
from meterflow.domain.counting import BatchOutcome, Changes, CountableEvent
from meterflow.domain.edge_figures import Edge, EdgeFigure, EdgeState
from meterflow.domain.event_record import EventFilter, EventOnRecord, ValueTally
from meterflow.domain.events import Event
from meterflow.domain.invoices import Invoice
from meterflow.domain.late_events import FinalizedPeriod, LateEvent
from meterflow.domain.looked_up_keys import LookedUpKeys
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.records import DeadLetter
from meterflow.domain.replay import (
    ChangedHour,
    ReplayJob,
)
from meterflow.domain.rollups import MetricRule, Rollup
from meterflow.domain.usage import PeriodUsage, UsageQuery


class CatalogReader(Protocol):
    """Plans and metrics by id, within one mode (unknown ids are simply absent)."""

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]: ...

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]: ...


class UsageReader(Protocol):
    """Period figures for many (metric, customer, period) at once, in the order asked. `known` holds the
    metrics the caller has read already (a close chunk's, a draft's), so a reader that needs them does not
    read them a second time; the others it reads itself."""

    async def usage(self, queries: Sequence[UsageQuery], known: Collection[Metric] = ()) -> list[PeriodUsage]: ...


class CountingCatalog(Protocol):
    """The catalog lookups counting needs, within one mode, read per batch (never cached: a customer or
    metric created a moment before its first event must see that event counted)."""

    async def existing_customer_ids(self, mode: Mode, ids: Iterable[str]) -> set[str]: ...

    async def metric_rules(self, mode: Mode, event_names: Iterable[str]) -> list[MetricRule]: ...


class UsageCounter(Protocol):
    """Counts each (mode, idempotency key) once: `apply` makes the counted events' marks and their rollup
    changes durable together, and returns which events it counted and which were duplicates."""

    async def known_keys(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]: ...

    async def apply(self, events: Sequence[CountableEvent], now: datetime) -> BatchOutcome: ...


class LateEventStore(Protocol):
    """Finalized periods of customers, and the idempotent log of late events (a replay adds nothing)."""

    async def finalized_periods(self, mode: Mode, customer_ids: Sequence[str],
                                since: datetime) -> list[FinalizedPeriod]: ...

    async def record(self, events: Sequence[LateEvent]) -> None: ...


class DeadLetterSink(Protocol):
    """Returns only once every letter is durable (acknowledged by the broker)."""

    async def send(self, letters: Sequence[DeadLetter]) -> None: ...


class EventRecordWriter(Protocol):
    """The events on record (docs/billing.md, "Events on record"): `add` is idempotent per (mode, idempotency key,
    timestamp), so a replayed batch adds nothing, and returns only once the rows are durable.

    `counting()` is held from a batch's count to its `add`: a rebuild of rollups from the record
    (`ReplaySource.rebuilding`) never runs in between, where it would see the count in the rollups but
    not yet the event on record, and write the rollups over without it. Many batches may count at once."""

    async def add(self, events: Sequence[EventOnRecord]) -> None: ...

    def counting(self) -> AbstractAsyncContextManager[None]: ...


class EventRecordReader(Protocol):
    """The events on record, read back: one by key, a page newest first, or every match oldest first."""

    async def by_key(self, mode: Mode, idempotency_key: str) -> EventOnRecord | None: ...

    async def page(self, mode: Mode, wanted: EventFilter, limit: int,
                   starting_after: str | None) -> tuple[list[EventOnRecord], bool]: ...

    def scan(self, mode: Mode, wanted: EventFilter, chunk: int = 10_000) -> AsyncIterator[list[EventOnRecord]]: ...


class InvoiceLookup(Protocol):
    async def invoice(self, mode: Mode, invoice_id: str) -> Invoice | None: ...


class RollupReader(Protocol):
    """Hour-aligned period figures with their distinct values (the hourly rollups' grain)."""

    async def usage_parts(self, queries: Sequence[UsageQuery]) -> list[tuple[Rollup, set[str]]]: ...


class ValueTallies(Protocol):
    """The events on record of a range, as counts per JSON text of a property (`domain/event_record.py`)."""

    def tally(self, mode: Mode, wanted: EventFilter, prop: str | None,
              chunk: int = 5_000) -> AsyncIterator[list[ValueTally]]: ...


class EdgeFigureStore(Protocol):
    """Figures of period edges folded from the events on record, each kept with its hour's version."""

    async def states(self, edges: Sequence[Edge]) -> list[EdgeState]: ...

    async def keep(self, edge: Edge, version: int, figure: EdgeFigure) -> None: ...


class ReplaySource(EventRecordReader, Protocol):
    """What a replay reads of the events on record besides the events: how many, and which names."""

    async def count(self, mode: Mode, wanted: EventFilter) -> int: ...

    async def event_names(self, mode: Mode, wanted: EventFilter) -> list[str]: ...

    def rebuilding(self) -> AbstractAsyncContextManager[None]:
        """Held while rollups are rebuilt from the record: no batch is between its count and its `add`."""
        ...


class RollupRewriter(Protocol):
    async def replace_hours(self, mode: Mode, metric_ids: Sequence[str], hours: Period,
                            rebuilt: Changes) -> list[ChangedHour]:
        """Write the rebuilt hours over the rollups; return the hours whose figures changed."""
        ...


class ReplayJobStore(Protocol):
    async def claim(self, now: datetime) -> ReplayJob | None: ...

    async def progress(self, job_id: str, total: int, replayed: int, now: datetime) -> None: ...


class BackfillRecord(ReplaySource, EventRecordWriter, Protocol):
    async def keys_on_record(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]: ...


class AcknowledgedTally(Protocol):
    """Events acknowledged over HTTP, per (mode, hour of receipt) (docs/accounting.md), told at the point of
    acknowledgement.

    `publish` is for a writer that keeps its own durable count (the gateway's write-ahead spool): its
    ABSOLUTE count per (mode, hour), under a stable writer id, so publishing again is harmless. `add` is
    the interim writer's increment, told after the broker acknowledged a batch."""

    async def add(self, mode: Mode, received_at: datetime, count: int) -> None: ...

    async def publish(self, writer: str, counts: Mapping[tuple[Mode, datetime], int]) -> None: ...


class DeadLetteredKeys(Protocol):
    """Remembers the idempotency keys of dead-lettered events for W + skew, as a counted key is, so that
    ingest answers a retry of one as a duplicate (the gateway's own memory of it is short)."""

    async def dead_lettered(self, mode: Mode, idempotency_keys: Sequence[str]) -> None: ...


class DeadLetterTally(Protocol):
    """Dead letters per (mode, hour of receipt), each (receipt, record position, category) kept once
    however often its letter is sent again."""

    async def dead_lettered(self, letters: Sequence[tuple[Receipt, str, str]]) -> None: ...


class AccountingBook(Protocol):
    """The accounting figures as kept, per hour asked, and the record of losses and their acknowledgement."""

    async def tallies(self, mode: Mode, hours: Sequence[datetime]) -> list[HourTally]: ...

    async def record_loss(self, mode: Mode, lost: Mapping[datetime, int]) -> None: ...

    async def acknowledge_loss(self, mode: Mode, hours: Iterable[datetime]) -> int: ...


class CustomerDirectory(Protocol):
    """Which of these customer ids exist in a mode (read per batch, never cached: a customer created a
    moment before its first event must see that event accepted)."""

    async def existing_customer_ids(self, mode: Mode, ids: Iterable[str]) -> set[str]: ...


class DuplicatePrecheck(Protocol):
    """Ingest's early duplicate answer (the processor stays the judge). Best effort both ways: with its
    store away, `already_known` finds nothing and `remember` forgets; neither ever fails a batch."""

    async def already_known(self, mode: Mode, idempotency_keys: Sequence[str]) -> LookedUpKeys:
        """Keys counted, or acknowledged to an earlier request."""
        ...

    async def remember(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime,
                       looked_up: LookedUpKeys | None = None) -> None:
        """Called only once the events are acknowledged (durable); `looked_up`, the lookup of the same
        request, if there was one."""
        ...


class Acknowledgements(Protocol):
    """Told once a batch is durable (after `EventPublisher.publish` returned): the accounting's
    acknowledged figure for the hour the gateway received it (docs/accounting.md). Never raises: the events
    are already durable, and their 202 must not be lost to a figure."""

    async def acknowledged(self, mode: Mode, received_at: datetime, count: int) -> None: ...


class EventPublisher(Protocol):
    """Makes accepted events durable on their way to counting; returns only once they are (else raises
    `Unavailable`, and nothing of the call is acknowledged)."""

    async def publish(self, mode: Mode, events: Sequence[Event], received_at: datetime) -> None: ...


class ReplayJobs(Protocol):
    async def create(self, job_id: str, mode: Mode, period: Period, event_name: str | None) -> ReplayJob: ...
