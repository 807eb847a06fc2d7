"""HTTP ingest of one batch: validate each event → drop unknown customers → drop keys already known →
publish the rest durably → remember them → answer per event.

The one home of this use case; the gateway's route only translates (tests/unit/test_ingest.py runs it on
fakes of its ports). Validation is the processor's own (`parse_event`, `unknown_customer`), so an event
accepted here is one the processor counts. `ingested` means durable (`EventPublisher`: the gateway's
spool, docs/spool.md); the duplicate answer is an early courtesy, the processor is the final judge
(docs/exactly-once.md). A batch whose every event is refused accepts nothing and is a 400 naming each
event's fault, so a client's validation helper sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meterflow.application.ports.usage import Acknowledgements, CustomerDirectory, DuplicatePrecheck, EventPublisher
from meterflow.domain.errors import FieldErrors
from meterflow.domain.events import AcceptancePolicy, Event, EventRejected, parse_event
from meterflow.domain.json_values import text_fault
from meterflow.domain.known_customers import unknown_customer
from meterflow.domain.looked_up_keys import LookedUpKeys
from meterflow.domain.modes import Mode

MAX_EVENTS_PER_BATCH = 1_000
MAX_BODY_BYTES = 1 << 20

@dataclass
class IngestResult:
    ingested: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    faults: list[tuple[int, str, str]] = field(default_factory=list)
    # The field at fault of each refused event (`customer_id`, `properties`, `event` for the whole): the
    # metric's label, a closed set.
    reasons: list[str] = field(default_factory=list)

    def reject(self, index: int, raw: object, param: str, message: str) -> None:
        key = raw.get("idempotency_key") if isinstance(raw, dict) else None
        # A key that is not text (a lone surrogate) cannot be echoed back in a UTF-8 answer.
        echoed = key if isinstance(key, str) and text_fault(key) is None else None
        path = f"events[{index}].{param}" if param else f"events[{index}]"
        self.rejected.append({"index": index, "idempotency_key": echoed, "error": f"{path}: {message}"})
        self.faults.append((index, path, message))
        self.reasons.append(param.split(".")[0] or "event")

    def refuse_if_nothing_valid(self, valid: int) -> None:
        """Every event refused: a 400 naming each, in batch order."""
        if self.rejected and not valid and not self.duplicates:
            raise FieldErrors({path: message for _, path, message in sorted(self.faults)})

    def as_json(self) -> dict[str, Any]:
        return {"ingested": self.ingested, "duplicates": self.duplicates, "rejected": self.rejected}


@dataclass(frozen=True)
class IngestBatch:
    customers: CustomerDirectory
    duplicates: DuplicatePrecheck
    publisher: EventPublisher
    acknowledgements: Acknowledgements
    policy: AcceptancePolicy

    async def __call__(self, mode: Mode, raw_events: Sequence[Any], received_at: datetime) -> IngestResult:
        result = IngestResult()
        valid = self._parse(raw_events, received_at, result)
        known_customers = await self.customers.existing_customer_ids(mode, {e.customer_id for _, _, e in valid})
        fresh: dict[str, Event] = {}
        for index, raw, event in valid:
            unknown = unknown_customer(event.customer_id, mode, known_customers)
            if unknown is not None:
                result.reject(index, raw, unknown.param or "", unknown.message)
            elif event.idempotency_key in fresh:
                result.duplicates.append(event.idempotency_key)
            else:
                fresh[event.idempotency_key] = event
        result.refuse_if_nothing_valid(len(fresh))
        looked_up = await self.duplicates.already_known(mode, list(fresh)) if fresh else LookedUpKeys(set())
        to_publish = [event for key, event in fresh.items() if key not in looked_up.found]
        result.duplicates += [key for key in fresh if key in looked_up.found]
        if to_publish:
            await self.publisher.publish(mode, to_publish, received_at)
            await self.acknowledgements.acknowledged(mode, received_at, len(to_publish))
        result.ingested = [event.idempotency_key for event in to_publish]
        # Only after `publish` returned: a key remembered for an event not durable would answer the
        # client's retry "duplicate" and lose the event.
        if result.ingested:
            await self.duplicates.remember(mode, result.ingested, received_at, looked_up)
        return result

    def _parse(self, raw_events: Sequence[Any], received_at: datetime,
               result: IngestResult) -> list[tuple[int, Any, Event]]:
        valid: list[tuple[int, Any, Event]] = []
        for index, raw in enumerate(raw_events):
            try:
                valid.append((index, raw, parse_event(raw, received_at, self.policy)))
            except EventRejected as exc:
                result.reject(index, raw, exc.param, exc.message)
        return valid
