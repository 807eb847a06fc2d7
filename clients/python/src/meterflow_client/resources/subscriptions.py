"""`/v1/subscriptions`: a customer on a plan, billed period after period."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query

SubscriptionStatus = Literal["active", "paused", "canceled"]


class Subscription(APIObject):
    id: str
    org_id: str
    customer_id: str
    plan_id: str
    status: str
    start_date: datetime
    current_period_start: datetime
    current_period_end: datetime
    trial_ends_at: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Subscriptions(Resource[S]):
    @operation("POST", "/v1/subscriptions")
    def create(*, customer_id: str, plan_id: str, start_date: datetime | None = None,
               idempotency_key: str | None = None) -> Call[Subscription]:
        body = given(customer_id=customer_id, plan_id=plan_id, start_date=start_date)
        return Call(one("subscription", Subscription), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/subscriptions/{object_id}")
    def get(subscription_id: str) -> Call[Subscription]:
        return Call(one("subscription", Subscription), path={"object_id": subscription_id})

    @paged("/v1/subscriptions", "subscriptions")
    def list(*, customer_id: str | None = None, plan_id: str | None = None,
             status: SubscriptionStatus | None = None, limit: int | None = None) -> Cursor[Subscription]:
        return Cursor(Subscription, query(customer_id=customer_id, plan_id=plan_id, status=status, limit=limit))

    @operation("PATCH", "/v1/subscriptions/{object_id}")
    def update(subscription_id: str, *, status: SubscriptionStatus,
               idempotency_key: str | None = None) -> Call[Subscription]:
        """Pause (`paused`), resume (`active`) or cancel now (`canceled`)."""
        return Call(one("subscription", Subscription), path={"object_id": subscription_id},
                    body={"status": status}, idempotency_key=idempotency_key)

    @operation("POST", "/v1/subscriptions/{subscription_id}/cancel")
    def cancel(subscription_id: str, *, idempotency_key: str | None = None) -> Call[Subscription]:
        """Cancel at the end of the current period (it is billed to its end)."""
        return Call(one("subscription", Subscription), path={"subscription_id": subscription_id},
                    idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/subscriptions/{object_id}")
    def delete(subscription_id: str) -> Call[Deleted]:
        """Cancel now; the subscription stays readable (its invoices refer to it)."""
        return Call(whole(Deleted), path={"object_id": subscription_id})
