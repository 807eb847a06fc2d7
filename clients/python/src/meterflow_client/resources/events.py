"""Events: ingest (`POST /v1/ingest`), the events on record behind the usage, and replay jobs that
rebuild usage from them.

Every event carries an `idempotency_key`; one the caller leaves out is made here (a UUID) before the
first attempt, so a batch sent again after a lost answer is recognised as duplicates, never counted
twice. Buffered, batching ingest: `client.events.buffer()` (meterflow_client.buffer).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Required, TypedDict

from meterflow_client._models import APIObject
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query

MAX_EVENTS_PER_BATCH = 1_000


class EventParams(TypedDict, total=False):
    """One usage event. `timestamp` defaults to the time the API receives it; numbers in `properties`
    may be `Decimal` (sent as decimal strings, which the API counts exactly)."""

    event_name: Required[str]
    customer_id: Required[str]
    idempotency_key: str
    timestamp: datetime | str
    properties: Mapping[str, Any]


class RejectedEvent(APIObject):
    index: int
    idempotency_key: str | None
    error: str


class IngestResult(APIObject):
    """`ingested`: durably recorded now; `duplicates`: keys already known (a retry after a lost answer
    lands here); `rejected`: refused events, each with the reason naming its field."""

    ingested: list[str]
    duplicates: list[str]
    rejected: list[RejectedEvent]


class EventOnRecord(APIObject):
    idempotency_key: str
    event_name: str
    customer_id: str
    timestamp: datetime
    properties: dict[str, Any]
    received_at: datetime


class ReplayJob(APIObject):
    id: str
    status: str
    from_timestamp: datetime
    to_timestamp: datetime
    event_name: str | None
    is_test: bool
    events_total: int
    events_replayed: int
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


def keyed(event: EventParams | Mapping[str, Any]) -> dict[str, Any]:
    """The event with its idempotency key, made now when the caller gave none."""
    return dict(event) if event.get("idempotency_key") else {**event, "idempotency_key": str(uuid.uuid4())}


class Events(Resource[S]):
    @operation("POST", "/v1/ingest")
    def ingest(events: Sequence[EventParams | Mapping[str, Any]]) -> Call[IngestResult]:
        """At most 1,000 events a call; each is judged on its own (see `IngestResult`)."""
        return Call(whole(IngestResult), body={"events": [keyed(e) for e in events]})

    @paged("/v1/events", "events")
    def list(*, customer_id: str | None = None, event_name: str | None = None, idempotency_key: str | None = None,
             from_: datetime | None = None, to: datetime | None = None,
             limit: int | None = None) -> Cursor[EventOnRecord]:
        """Counted events, newest first; `[from_, to)` by event timestamp."""
        params = query(customer_id=customer_id, event_name=event_name, idempotency_key=idempotency_key, to=to,
                       limit=limit, **{"from": from_})
        return Cursor(EventOnRecord, params, field="idempotency_key")

    @operation("GET", "/v1/events/{idempotency_key}")
    def get(idempotency_key: str) -> Call[EventOnRecord]:
        return Call(one("event", EventOnRecord), path={"idempotency_key": idempotency_key})

    @operation("POST", "/v1/events/replay")
    def replay(*, from_: datetime, to: datetime, event_name: str | None = None,
               idempotency_key: str | None = None) -> Call[ReplayJob]:
        """Rebuild the usage of `[from_, to)` (widened to whole hours) from the events on record, in the
        background: poll `get_replay(job.id)`."""
        body = given(to=to, event_name=event_name) | {"from": from_}
        return Call(one("job", ReplayJob), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/events/replay/{job_id}")
    def get_replay(job_id: str) -> Call[ReplayJob]:
        return Call(one("job", ReplayJob), path={"job_id": job_id})
