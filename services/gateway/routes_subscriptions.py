"""Subscriptions: create (the double-billing guard), list with filters, PATCH status (pause, resume,
cancel now), DELETE (= cancel now), cancel at period end. Each route calls one use case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from meterflow.adapters.subscription_repository import SubscriptionFilters
from meterflow.application.subscriptions import Subscriptions
from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.inputs import IdText
from meterflow.domain.modes import Mode
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.schemas import (
    ExactJSONResponse,
    StatusFilter,
    SubscriptionIn,
    SubscriptionStatusIn,
    one_json,
    page_json,
    subscription_json,
)

router = APIRouter(prefix="/v1/subscriptions", route_class=checked_route())


def subscriptions(ctx: GatewayContext = Depends(context)) -> Subscriptions:
    return ctx.use_cases.subscriptions


def _one(subscription: Subscription, ctx: GatewayContext) -> dict[str, Any]:
    return one_json("subscription", subscription_json(subscription, ctx.settings.org_id))


@router.get("", name="list_subscriptions")
async def list_subscriptions(customer_id: IdText | None = None, plan_id: IdText | None = None,
                             status: StatusFilter | None = None, limit: int = Query(100, ge=1, le=1_000),
                             starting_after: IdText | None = None, mode: Mode = Depends(authenticated_mode),
                             ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
    filters = SubscriptionFilters(customer_id=customer_id, plan_id=plan_id, status=status)
    items, more = await ctx.catalog.subscriptions(mode, limit, starting_after, filters)
    return ExactJSONResponse(page_json("subscriptions", [subscription_json(s, ctx.settings.org_id) for s in items],
                                       more))


@router.post("", status_code=201)
async def create_subscription(body: SubscriptionIn, mode: Mode = Depends(authenticated_mode),
                              use_case: Subscriptions = Depends(subscriptions),
                              ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    return _one(await use_case.start(mode, body.customer_id, body.plan_id, body.start_date), ctx)


@router.patch("/{object_id}")
async def change_status(object_id: IdText, body: SubscriptionStatusIn, mode: Mode = Depends(authenticated_mode),
                        use_case: Subscriptions = Depends(subscriptions),
                        ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    return _one(await use_case.change_status(mode, object_id, SubscriptionStatus(body.status)), ctx)


@router.delete("/{object_id}")
async def delete_subscription(object_id: IdText, mode: Mode = Depends(authenticated_mode),
                              use_case: Subscriptions = Depends(subscriptions)) -> dict[str, Any]:
    """Monigo's "cancel and remove": cancelled now (its period so far is still invoiced); the record
    stays readable, as its invoices refer to it."""
    await use_case.change_status(mode, object_id, SubscriptionStatus.CANCELED)
    return {"message": "Subscription canceled"}


@router.post("/{subscription_id}/cancel")
async def cancel_subscription(subscription_id: IdText, mode: Mode = Depends(authenticated_mode),
                              use_case: Subscriptions = Depends(subscriptions),
                              ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    return _one(await use_case.cancel(mode, subscription_id), ctx)
