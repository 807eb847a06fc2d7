"""The processor's steps for one batch of records: decode → validate → resolve metrics → count → dead-letter.

Nothing here acks or commits: Faust acks the batch only after `process` returns, so an offset is never
committed before the batch's effect (Redis transaction) and its dead letters (acknowledged by the
broker) are durable. A crash anywhere in between means the batch is read again, and counting it again
changes nothing (docs/exactly-once.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.late_event_repository import FinalizedPeriod, LateEvent, LateEventRepository
from meterflow.adapters.usage_store import BatchOutcome, Contribution, CountableEvent, UsageStore
from meterflow.domain.events import AcceptancePolicy, Event, EventRejected, decode_json, parse_event
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import MetricRule, observe_event
from meterflow.logs import REQUEST_ID_HEADER
from meterflow.observability import Probe
from meterflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One Kafka record, as the pipeline needs it (decoupled from Faust's event type)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def request_id(self) -> str | None:
        """Set by the gateway for HTTP-ingested events; direct producers may set it too."""
        found = dict(self.headers).get(REQUEST_ID_HEADER)
        return found.decode(errors="replace") if found else None

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


@dataclass(frozen=True)
class DeadLetter:
    record: Record
    reason: str
    category: str  # a closed set, for the metric label: not_json, invalid_event, unknown_customer, unknown_topic


@dataclass(frozen=True)
class Decoded:
    record: Record
    mode: Mode
    event: Event


@dataclass
class BatchReport:
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    late: list[LateEvent] = field(default_factory=list)


def decode(record: Record, settings: Settings, policy: AcceptancePolicy) -> Decoded | DeadLetter:
    """Never raises: a poison message becomes a dead letter and the stream goes on."""
    mode = settings.mode_of_topic(record.topic)
    if mode is None:
        return DeadLetter(record, f"topic {record.topic!r} is not an events topic", "unknown_topic")
    try:
        raw = decode_json(record.value)
    except (ValueError, UnicodeDecodeError) as exc:
        return DeadLetter(record, f"not JSON: {exc}", "not_json")
    try:
        return Decoded(record, mode, parse_event(raw, record.received_at, policy, size_hint=len(record.value)))
    except EventRejected as exc:
        return DeadLetter(record, f"{exc.param}: {exc.message}" if exc.param else exc.message, "invalid_event")


def contributions(event: Event, rules: Sequence[MetricRule]) -> tuple[Contribution, ...]:
    return tuple(Contribution(rule.metric_id, observe_event(rule, event)) for rule in rules
                 if rule.event_name == event.event_name)


def find_late(events: Sequence[CountableEvent], periods: Sequence[FinalizedPeriod]) -> list[LateEvent]:
    by_customer: dict[str, list[FinalizedPeriod]] = defaultdict(list)
    for period in periods:
        by_customer[period.customer_id].append(period)
    return [LateEvent(e.mode, e.idempotency_key, e.customer_id, e.event_name, e.timestamp, p.invoice_id)
            for e in events for p in by_customer.get(e.customer_id, ()) if p.start <= e.timestamp < p.end]


class BatchProcessor:
    def __init__(self, settings: Settings, catalog: CatalogRepository, late_events: LateEventRepository,
                 usage: UsageStore, dlq_producer: AIOKafkaProducer, policy: AcceptancePolicy) -> None:
        self._settings = settings
        self._catalog = catalog
        self._late_events = late_events
        self._usage = usage
        self._dlq = dlq_producer
        self._policy = policy

    def dependency_probes(self) -> dict[str, Probe]:
        return {"postgres": self._catalog.ping, "redis": self._usage.ping,
                "kafka": self._dlq.client.fetch_all_metadata}

    async def process(self, records: Sequence[Record], now: datetime) -> BatchReport:
        report = BatchReport()
        decoded: list[Decoded] = []
        for record in records:
            item = decode(record, self._settings, self._policy)
            (report.dead_letters if isinstance(item, DeadLetter) else decoded).append(item)  # type: ignore[arg-type]
        countable = await self._resolve(decoded, report)
        report.late = await self._record_late(countable)
        report.outcome = await self._usage.apply(countable, now)
        await self._dead_letter(report.dead_letters)
        return report

    async def _resolve(self, decoded: list[Decoded], report: BatchReport) -> list[CountableEvent]:
        """Unknown customers are dead letters; events no metric reads are still marked as seen."""
        by_mode: dict[Mode, list[Decoded]] = defaultdict(list)
        for item in decoded:
            by_mode[item.mode].append(item)
        countable: list[CountableEvent] = []
        for mode, items in by_mode.items():
            customers = await self._catalog.existing_customer_ids(mode, {i.event.customer_id for i in items})
            # Read per batch, not cached: a metric created a moment before its first event must count it.
            rules = await self._catalog.metric_rules(mode, {i.event.event_name for i in items})
            for item in items:
                event = item.event
                if event.customer_id not in customers:
                    report.dead_letters.append(DeadLetter(item.record, f"customer_id: no customer "
                                                          f"{event.customer_id!r} in {mode} mode", "unknown_customer"))
                    continue
                countable.append(CountableEvent(mode, event.idempotency_key, event.customer_id, event.event_name,
                                                event.timestamp, contributions(event, rules)))
        return countable

    async def _record_late(self, countable: list[CountableEvent]) -> list[LateEvent]:
        """Report events that land in an already finalized period (they count in usage, never on that
        invoice). Recorded before the batch's Redis transaction, idempotently, so a crash in between
        cannot lose a report; only events not seen before are candidates, so a duplicate is never late."""
        late: list[LateEvent] = []
        by_mode: dict[Mode, list[CountableEvent]] = defaultdict(list)
        for event in countable:
            by_mode[event.mode].append(event)
        for mode, events in by_mode.items():
            periods = await self._late_events.finalized_periods(
                mode, [e.customer_id for e in events], min(e.timestamp for e in events))
            candidates = find_late(events, periods)
            if candidates:
                seen = await self._usage.known_keys(mode, [c.idempotency_key for c in candidates])
                late += [c for c in candidates if c.idempotency_key not in seen]
        await self._late_events.record(late)
        return late

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Original bytes plus where they came from and why, acknowledged before the batch is acked."""
        sends = [await self._dlq.send(
            self._settings.dlq_topic, letter.record.value, key=letter.record.key,
            headers=[("source_topic", letter.record.topic.encode()),
                     ("source_partition", str(letter.record.partition).encode()),
                     ("source_offset", str(letter.record.offset).encode()),
                     ("reason", letter.reason.encode()),
                     *((REQUEST_ID_HEADER, rid.encode()) for rid in [letter.record.request_id] if rid)])
            for letter in letters]
        await asyncio.gather(*sends)
        for letter in letters:
            log.warning("dead-lettered %s[%d]@%d: %s", letter.record.topic, letter.record.partition,
                        letter.record.offset, letter.reason, extra={"request_id": letter.record.request_id})
