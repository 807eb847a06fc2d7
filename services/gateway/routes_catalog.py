"""Customers, metrics, plans and subscriptions read, and customers, metrics and plans created: the body is
validated here, the object built and stored by the catalog use case (application/catalog_changes.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query

from meterflow.adapters.catalog_repository import CatalogRepository, CustomerFilters
from meterflow.application.catalog_changes import CatalogChanges
from meterflow.domain.inputs import IdText, NameText
from meterflow.domain.modes import Mode
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.errors import found_or_404
from services.gateway.schemas import (
    CustomerIn,
    ExactJSONResponse,
    MetricIn,
    PlanIn,
    customer_json,
    metric_json,
    one_json,
    page_json,
    plan_json,
    subscription_json,
)

router = APIRouter(prefix="/v1", route_class=checked_route())


def catalog_changes(ctx: GatewayContext = Depends(context)) -> CatalogChanges:
    """The catalog's changes use case (customers, metrics, plans), wired for a request."""
    return ctx.use_cases.catalog_changes


Limit = Query(100, ge=1, le=1_000)
StartingAfter = Query(None, description="the last id of the previous page; an unknown id is 404")
Fetch = Callable[[CatalogRepository, Mode, str], Awaitable[Any]]
FetchPage = Callable[[CatalogRepository, Mode, int, str | None], Awaitable[tuple[list[Any], bool]]]


def _read_routes(collection: str, kind: str, one: Fetch, page: FetchPage | None,
                 to_json: Callable[[Any, str], dict[str, Any]]) -> None:
    """`GET /v1/<collection>` (a page, newest first; unless `page` is None: the collection has its own
    list route, with filters) and `GET /v1/<collection>/{id}`, within the key's mode."""
    if page is not None:
        _list_route(collection, page, to_json)

    @router.get(f"/{collection}/{{object_id}}", name=f"get_{kind}")
    async def get_one(object_id: IdText, mode: Mode = Depends(authenticated_mode),
                      ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
        found = found_or_404(await one(ctx.catalog, mode, object_id), kind, object_id)
        return ExactJSONResponse(one_json(kind, to_json(found, ctx.settings.org_id)))


def _list_route(collection: str, page: FetchPage, to_json: Callable[[Any, str], dict[str, Any]]) -> None:
    @router.get(f"/{collection}", name=f"list_{collection}")
    async def list_all(limit: int = Limit, starting_after: IdText | None = StartingAfter,
                       mode: Mode = Depends(authenticated_mode),
                       ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
        items, more = await page(ctx.catalog, mode, limit, starting_after)
        org = ctx.settings.org_id
        return ExactJSONResponse(page_json(collection, [to_json(item, org) for item in items], more))


_read_routes("customers", "customer", CatalogRepository.customer, None, customer_json)
_read_routes("metrics", "metric", CatalogRepository.metric, CatalogRepository.metrics, metric_json)
_read_routes("plans", "plan", CatalogRepository.plan, CatalogRepository.plans, plan_json)
_read_routes("subscriptions", "subscription", CatalogRepository.subscription, None, subscription_json)


@router.get("/customers", name="list_customers")
async def list_customers(external_id: NameText | None = Query(None, description="only the customer with this "
                                                              "external_id (none if no customer has it)"),
                         limit: int = Limit, starting_after: IdText | None = StartingAfter,
                         mode: Mode = Depends(authenticated_mode),
                         ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
    items, more = await ctx.catalog.customers(mode, limit, starting_after, CustomerFilters(external_id=external_id))
    org = ctx.settings.org_id
    return ExactJSONResponse(page_json("customers", [customer_json(item, org) for item in items], more))


@router.post("/customers", status_code=201)
async def create_customer(body: CustomerIn, mode: Mode = Depends(authenticated_mode),
                          ctx: GatewayContext = Depends(context),
                          changes: CatalogChanges = Depends(catalog_changes)) -> ExactJSONResponse:
    customer = await changes.create_customer(mode, external_id=body.external_id, name=body.name, email=body.email,
                                             phone=body.phone, metadata=body.metadata)
    return ExactJSONResponse(one_json("customer", customer_json(customer, ctx.settings.org_id)), status_code=201)


@router.post("/metrics", status_code=201)
async def create_metric(body: MetricIn, mode: Mode = Depends(authenticated_mode),
                        ctx: GatewayContext = Depends(context),
                        changes: CatalogChanges = Depends(catalog_changes)) -> dict[str, Any]:
    metric = await changes.create_metric(mode, name=body.name, event_name=body.event_name,
                                         aggregation=body.aggregation, aggregation_property=body.aggregation_property,
                                         description=body.description)
    return one_json("metric", metric_json(metric, ctx.settings.org_id))


@router.post("/plans", status_code=201)
async def create_plan(body: PlanIn, mode: Mode = Depends(authenticated_mode),
                      ctx: GatewayContext = Depends(context),
                      changes: CatalogChanges = Depends(catalog_changes)) -> dict[str, Any]:
    plan = await changes.create_plan(mode, name=body.name, description=body.description, currency=body.currency,
                                     plan_type=body.plan_type.value, billing_period=body.billing_period,
                                     trial_period_days=body.trial_period_days, vat_rate=body.vat_rate,
                                     prices=body.prices)
    return one_json("plan", plan_json(plan, ctx.settings.org_id))
