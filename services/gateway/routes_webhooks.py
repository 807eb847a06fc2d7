"""Webhook endpoints and their deliveries (docs/api.md, "Webhooks"). Thin: each route parses, calls one use case
(application/webhook_endpoints.py, webhook_delivery.py) and renders. The secret is rendered only in the
answer to the creation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StringConstraints

from meterflow.application.webhook_delivery import retry_now
from meterflow.application.webhook_endpoints import WebhookEndpoints
from meterflow.domain.inputs import DescriptionText, IdText
from meterflow.domain.modes import Mode
from meterflow.domain.presentation import timestamp_text
from meterflow.domain.webhooks import MAX_URL_CHARS, Delivery, EndpointStatus, EventType, WebhookEndpoint
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.schemas import _Body, one_json, page_json

router = APIRouter(prefix="/v1", route_class=checked_route())

# http(s), then printable ASCII without spaces; the host, port and the rest are checked by the domain.
UrlText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS, pattern=r"^https?://[!-~]+$")]
EndpointEvents = Annotated[list[EventType | Literal["*"]], Field(min_length=1, max_length=len(EventType))]


class EndpointIn(_Body):
    url: UrlText
    events: EndpointEvents
    description: DescriptionText | None = None


class EndpointUpdate(_Body):
    """Only the fields given change."""

    url: UrlText | None = None
    events: EndpointEvents | None = None
    description: DescriptionText | None = None
    status: EndpointStatus | None = None


def endpoints(ctx: GatewayContext = Depends(context)) -> WebhookEndpoints:
    return ctx.use_cases.webhook_endpoints


def endpoint_json(e: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    shown = {"id": e.id, "url": e.url, "events": list(e.events), "description": e.description,
             "status": e.status.value, "is_test": e.mode is Mode.TEST, "created_at": timestamp_text(e.created_at),
             "updated_at": timestamp_text(e.updated_at)}
    return {**shown, "secret": e.secret} if with_secret else shown


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "endpoint_id": d.endpoint_id, "event_id": d.event_id, "type": d.type,
            "status": d.status.value, "attempts": d.attempts, "last_status_code": d.last_status_code,
            "last_error": d.last_error, "next_attempt_at": timestamp_text(d.next_attempt_at),
            "attempt_history": [{"attempt": a.number, "started_at": timestamp_text(a.started_at),
                                 "duration_ms": a.duration_ms, "status_code": a.status_code, "error": a.error}
                                for a in d.history],
            "created_at": timestamp_text(d.created_at), "updated_at": timestamp_text(d.updated_at)}


def _events(given: list[EventType | Literal["*"]]) -> list[str]:
    return [str(e) for e in given]


@router.post("/webhook_endpoints", status_code=201)
async def create_endpoint(body: EndpointIn, mode: Mode = Depends(authenticated_mode),
                          use_case: WebhookEndpoints = Depends(endpoints)) -> dict[str, Any]:
    """The answer carries the endpoint's signing `secret`: shown here only, never again."""
    created = await use_case.create(mode, body.url, _events(body.events), body.description)
    return one_json("webhook_endpoint", endpoint_json(created, with_secret=True))


@router.get("/webhook_endpoints")
async def list_endpoints(limit: int = Query(100, ge=1, le=1_000), starting_after: IdText | None = None,
                         mode: Mode = Depends(authenticated_mode),
                         ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    items, more = await ctx.stores.webhook_endpoints.endpoints(mode, limit, starting_after)
    return page_json("webhook_endpoints", [endpoint_json(e) for e in items], more)


@router.get("/webhook_endpoints/{endpoint_id}")
async def get_endpoint(endpoint_id: IdText, mode: Mode = Depends(authenticated_mode),
                       use_case: WebhookEndpoints = Depends(endpoints)) -> dict[str, Any]:
    return one_json("webhook_endpoint", endpoint_json(await use_case.endpoint(mode, endpoint_id)))


@router.put("/webhook_endpoints/{endpoint_id}")
async def update_endpoint(endpoint_id: IdText, body: EndpointUpdate, mode: Mode = Depends(authenticated_mode),
                          use_case: WebhookEndpoints = Depends(endpoints)) -> dict[str, Any]:
    given = {name: getattr(body, name) for name in body.model_fields_set if getattr(body, name) is not None}
    if "events" in given:
        given["events"] = _events(given["events"])
    return one_json("webhook_endpoint", endpoint_json(await use_case.update(mode, endpoint_id, given)))


@router.delete("/webhook_endpoints/{endpoint_id}")
async def delete_endpoint(endpoint_id: IdText, mode: Mode = Depends(authenticated_mode),
                          use_case: WebhookEndpoints = Depends(endpoints)) -> dict[str, str]:
    """Its pending deliveries are marked failed; its delivery log stays."""
    await use_case.delete(mode, endpoint_id)
    return {"message": "Webhook endpoint deleted"}


@router.get("/webhook_endpoints/{endpoint_id}/deliveries")
async def list_deliveries(endpoint_id: IdText, limit: int = Query(100, ge=1, le=1_000),
                          starting_after: IdText | None = None, mode: Mode = Depends(authenticated_mode),
                          use_case: WebhookEndpoints = Depends(endpoints),
                          ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    """Newest first, each with its attempts (`attempt_history`: status code or error of each)."""
    await use_case.endpoint(mode, endpoint_id)
    items, more = await ctx.stores.webhook_deliveries.deliveries(mode, endpoint_id, limit, starting_after)
    return page_json("deliveries", [delivery_json(d) for d in items], more)


@router.post("/webhook_deliveries/{delivery_id}/retry")
async def retry_delivery(delivery_id: IdText, mode: Mode = Depends(authenticated_mode),
                         ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    """Due now: the delivery worker sends it again at once (whatever its status was)."""
    delivery = await retry_now(ctx.stores.webhook_deliveries, mode, delivery_id, ctx.clock.now())
    return one_json("webhook_delivery", delivery_json(delivery))
