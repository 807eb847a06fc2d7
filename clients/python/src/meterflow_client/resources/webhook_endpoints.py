"""`/v1/webhook_endpoints` and their deliveries. The signing `secret` is in the answer to `create` only;
check what you receive with `meterflow_client.webhooks.verify`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query

EventType = Literal["invoice.created", "invoice.finalized", "invoice.paid", "invoice.voided",
                    "invoice.uncollectible", "payment.success", "payment.failed", "subscription.created",
                    "subscription.paused", "subscription.resumed", "subscription.canceled", "customer.created",
                    "customer.deleted", "replay.completed", "replay.failed", "alert.triggered",
                    "wallet.credited", "wallet.debited", "*"]
EndpointStatus = Literal["enabled", "disabled"]


class WebhookEndpoint(APIObject):
    id: str
    url: str
    events: list[str]
    description: str | None
    status: str
    is_test: bool
    created_at: datetime
    updated_at: datetime
    secret: str | None = None


class DeliveryAttempt(APIObject):
    attempt: int
    started_at: datetime
    duration_ms: int | None
    status_code: int | None
    error: str | None


class WebhookDelivery(APIObject):
    id: str
    endpoint_id: str
    event_id: str
    type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    attempt_history: list[DeliveryAttempt]
    created_at: datetime
    updated_at: datetime


class WebhookEndpoints(Resource[S]):
    @operation("POST", "/v1/webhook_endpoints")
    def create(*, url: str, events: Sequence[EventType], description: str | None = None,
               idempotency_key: str | None = None) -> Call[WebhookEndpoint]:
        body = given(url=url, events=list(events), description=description)
        return Call(one("webhook_endpoint", WebhookEndpoint), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/webhook_endpoints/{endpoint_id}")
    def get(endpoint_id: str) -> Call[WebhookEndpoint]:
        return Call(one("webhook_endpoint", WebhookEndpoint), path={"endpoint_id": endpoint_id})

    @paged("/v1/webhook_endpoints", "webhook_endpoints")
    def list(*, limit: int | None = None) -> Cursor[WebhookEndpoint]:
        return Cursor(WebhookEndpoint, query(limit=limit))

    @operation("PUT", "/v1/webhook_endpoints/{endpoint_id}")
    def update(endpoint_id: str, *, url: str | None = None, events: Sequence[EventType] | None = None,
               description: str | None = None, status: EndpointStatus | None = None,
               idempotency_key: str | None = None) -> Call[WebhookEndpoint]:
        """Only the fields given change."""
        body = given(url=url, events=None if events is None else tuple(events), description=description, status=status)
        return Call(one("webhook_endpoint", WebhookEndpoint), path={"endpoint_id": endpoint_id}, body=body,
                    idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/webhook_endpoints/{endpoint_id}")
    def delete(endpoint_id: str) -> Call[Deleted]:
        """Its pending deliveries are marked failed; its delivery log stays."""
        return Call(whole(Deleted), path={"endpoint_id": endpoint_id})

    @paged("/v1/webhook_endpoints/{endpoint_id}/deliveries", "deliveries")
    def deliveries(endpoint_id: str, *, limit: int | None = None) -> Cursor[WebhookDelivery]:
        """Newest first, each with its attempts."""
        return Cursor(WebhookDelivery, query(limit=limit), {"endpoint_id": endpoint_id})


class WebhookDeliveries(Resource[S]):
    @operation("POST", "/v1/webhook_deliveries/{delivery_id}/retry")
    def retry(delivery_id: str, *, idempotency_key: str | None = None) -> Call[WebhookDelivery]:
        """Due now: the delivery worker sends it again at once."""
        return Call(one("webhook_delivery", WebhookDelivery), path={"delivery_id": delivery_id},
                    idempotency_key=idempotency_key)
