"""Events on record (billing.md §6): list, one by key, and an invoice's events. Thin: parse, call the
reader or the use case, shape the answer; refusals are domain errors mapped in `errors.py`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.application.events_on_record import invoice_events
from meterflow.domain.errors import NotFound
from meterflow.domain.event_record import EventFilter, EventOnRecord
from meterflow.domain.events import format_timestamp
from meterflow.domain.inputs import EventNameText, IdText, KeyText, Timestamp
from meterflow.domain.modes import Mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, authenticated_mode, context

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


def record(ctx: GatewayContext = Depends(context)) -> EventRecordRepository:
    return EventRecordRepository(ctx.pool)


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
                      mode: Mode = Depends(authenticated_mode),
                      reader: EventRecordRepository = Depends(record)) -> dict[str, Any]:
    """The counted events on record, newest first (by timestamp, then key); `[from, to)` by timestamp
    (an empty range lists nothing)."""
    wanted = EventFilter(customer_id, (event_name,) if event_name is not None else None, idempotency_key,
                         start, to)
    return _page(*await reader.page(mode, wanted, limit, starting_after))


@router.get("/events/{idempotency_key}", response_model=OneEvent)
async def get_event(idempotency_key: KeyText, mode: Mode = Depends(authenticated_mode),
                    reader: EventRecordRepository = Depends(record)) -> dict[str, Any]:
    event = await reader.by_key(mode, idempotency_key)
    if event is None:
        raise NotFound("event", idempotency_key, "idempotency_key")
    return {"event": _out(event)}


@router.get("/invoices/{invoice_id}/events", response_model=EventPage)
async def list_invoice_events(invoice_id: IdText, line: int | None = Query(None, ge=0, le=MAX_LINES),
                              limit: int = Query(10, ge=1, le=100), starting_after: KeyText | None = None,
                              mode: Mode = Depends(authenticated_mode), ctx: GatewayContext = Depends(context),
                              reader: EventRecordRepository = Depends(record)) -> dict[str, Any]:
    """Exactly the counted events behind the invoice's quantities (or its line at position `line`)."""
    return _page(*await invoice_events(ctx.invoices, ctx.catalog, reader, mode, invoice_id, line, limit,
                                       starting_after))
