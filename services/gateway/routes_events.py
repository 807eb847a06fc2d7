"""Events on record (docs/billing.md, "Events on record"): list, one by key, and an invoice's events. Thin: parse, call
the reader or the use case, shape the answer; refusals are domain errors mapped in `errors.py`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.application.events_on_record import invoice_events
from meterflow.application.replay import RECORD_RETENTION, start_replay
from meterflow.domain.errors import NotFound
from meterflow.domain.event_record import EventFilter, EventOnRecord
from meterflow.domain.events import format_timestamp
from meterflow.domain.inputs import EventNameText, IdText, KeyText, Timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.presentation import job_json
from meterflow.domain.usage_windows import checked_window
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context

router = APIRouter(prefix="/v1", route_class=checked_route())
MAX_LINES = 10_000


class EventOut(BaseModel):
    idempotency_key: str
    event_name: str
    customer_id: str
    timestamp: str
    properties: dict[str, Any]
    received_at: str


class EventPage(BaseModel):
    events: list[EventOut]
    count: int
    has_more: bool


class OneEvent(BaseModel):
    event: EventOut




def _kept(ctx: GatewayContext) -> timedelta:
    return timedelta(seconds=ctx.settings.event_record_retention_s)


def record(ctx: GatewayContext = Depends(context)) -> EventRecordRepository:
    return ctx.stores.event_records


def _out(event: EventOnRecord) -> dict[str, Any]:
    return {"idempotency_key": event.idempotency_key, "event_name": event.event_name,
            "customer_id": event.customer_id, "timestamp": format_timestamp(event.timestamp),
            "properties": event.properties, "received_at": format_timestamp(event.received_at)}


def _page(events: list[EventOnRecord], more: bool) -> dict[str, Any]:
    return {"events": [_out(e) for e in events], "count": len(events), "has_more": more}


@router.get("/events", response_model=EventPage)
async def list_events(customer_id: IdText | None = None, event_name: EventNameText | None = None,
                      idempotency_key: KeyText | None = None,
                      start: Timestamp | None = Query(None, alias="from"), to: Timestamp | None = None,
                      limit: int = Query(10, ge=1, le=100), starting_after: KeyText | None = None,
                      mode: Mode = Depends(authenticated_mode), ctx: GatewayContext = Depends(context),
                      reader: EventRecordRepository = Depends(record)) -> dict[str, Any]:
    """The counted events on record, newest first (by timestamp, then key); `[from, to)` by timestamp,
    either bound optional; with both, the window rule of usage and replays (`to` after `from`, at most the
    retention long)."""
    if start is not None and to is not None:
        checked_window(start, to, _kept(ctx), RECORD_RETENTION)
    wanted = EventFilter(customer_id, (event_name,) if event_name is not None else None, idempotency_key,
                         start, to)
    return _page(*await reader.page(mode, wanted, limit, starting_after))


@router.get("/invoices/{invoice_id}/events", response_model=EventPage)
async def list_invoice_events(invoice_id: IdText, line: int | None = Query(None, ge=0, le=MAX_LINES),
                              limit: int = Query(10, ge=1, le=100), starting_after: KeyText | None = None,
                              mode: Mode = Depends(authenticated_mode), ctx: GatewayContext = Depends(context),
                              reader: EventRecordRepository = Depends(record)) -> dict[str, Any]:
    """Exactly the counted events behind the invoice's quantities (or its line at position `line`)."""
    return _page(*await invoice_events(ctx.invoices, ctx.catalog, reader, mode, invoice_id, line, limit,
                                       starting_after))


class ReplayIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: Timestamp = Field(alias="from")
    to: Timestamp
    event_name: EventNameText | None = None


class JobOut(BaseModel):
    id: str
    status: str
    from_timestamp: str
    to_timestamp: str
    event_name: str | None
    is_test: bool
    events_total: int
    events_replayed: int
    error_message: str | None
    started_at: str | None
    completed_at: str | None
    created_at: str
    updated_at: str


class OneJob(BaseModel):
    job: JobOut


@router.post("/events/replay", status_code=202, response_model=OneJob)
async def replay(body: ReplayIn, mode: Mode = Depends(authenticated_mode),
                 ctx: GatewayContext = Depends(context)) -> JSONResponse:
    """Rebuild the usage of `[from, to)` (widened to whole hours) from the events on record, as a
    background job: poll `GET /v1/events/replay/{id}`."""
    job = await start_replay(ctx.stores.replay_jobs, mode, body.start, body.to, body.event_name, _kept(ctx))
    return JSONResponse({"job": job_json(job)}, status_code=202)


@router.get("/events/replay/{job_id}", response_model=OneJob)
async def replay_job(job_id: IdText, mode: Mode = Depends(authenticated_mode),
                     ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    job = await ctx.stores.replay_jobs.job(mode, job_id)
    if job is None:
        raise NotFound("job", job_id, "id")
    return {"job": job_json(job)}


# After the replay routes: `/v1/events/replay` is theirs (methods and `Allow`), not an idempotency key's.
@router.get("/events/{idempotency_key}", response_model=OneEvent)
async def get_event(idempotency_key: KeyText, mode: Mode = Depends(authenticated_mode),
                    reader: EventRecordRepository = Depends(record)) -> dict[str, Any]:
    event = await reader.by_key(mode, idempotency_key)
    if event is None:
        raise NotFound("event", idempotency_key, "idempotency_key")
    return {"event": _out(event)}
