"""Customers, metrics, plans and subscriptions: validate, build the domain object, store it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query

from meterflow.adapters.catalog_repository import CatalogRepository, CustomerFilters
from meterflow.adapters.postgres import UniqueViolation
from meterflow.application.catalog_changes import CatalogChanges
from meterflow.domain.catalog import Customer, Metric, Plan, PlanPrice
from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.inputs import IdText, NameText
from meterflow.domain.metric_definitions import aggregation_property_of
from meterflow.domain.modes import Mode
from meterflow.domain.pricing import PriceError, parse_price
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, authenticated_mode, context
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
    return CatalogChanges(ctx.catalog, ctx.clock, unit_of_work=ctx.unit_of_work, org_id=ctx.settings.org_id)


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
    customer = Customer(new_id(IdKind.CUSTOMER), mode, body.external_id, body.name, body.email, body.metadata,
                        ctx.clock.now(), body.phone)
    try:
        await changes.create_customer(customer)
    except UniqueViolation as exc:
        raise Conflict(str(exc), "external_id") from None
    return ExactJSONResponse(one_json("customer", customer_json(customer, ctx.settings.org_id)), status_code=201)


@router.post("/metrics", status_code=201)
async def create_metric(body: MetricIn, mode: Mode = Depends(authenticated_mode),
                        ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    prop = aggregation_property_of(body.aggregation, body.aggregation_property)
    metric = Metric(new_id(IdKind.METRIC), mode, body.name, body.event_name, body.aggregation, prop,
                    body.description, ctx.clock.now())
    await ctx.catalog.add_metric(metric)
    return one_json("metric", metric_json(metric, ctx.settings.org_id))


# Money fields are decimal strings on the wire; counts (`up_to`, `package_size`, `included_units`) are
# integers Monigo's clients decode as such, so they keep the form they were given.
_MONEY_FIELDS = frozenset({"unit_price", "unit_amount", "package_price", "base_price", "overage_price",
                           "flat_fee", "base_fee"})


def _decimal_strings(value: Any, key: str | None = None) -> Any:
    """Store prices as given, money written as docs/api.md shows it: decimal strings, whatever number form
    the client sent."""
    if isinstance(value, dict):
        return {k: _decimal_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal_strings(v, key) for v in value]
    if key in _MONEY_FIELDS and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return format(Decimal(str(value)), "f")
    return value


def _merged(raw: dict[str, Any], index: int, existing: dict[str, PlanPrice]) -> tuple[str, dict[str, Any]]:
    """An item with an `id` updates that price of the plan (the keys given replace its own); one without
    is a new price."""
    price_id = raw.get("id")
    if price_id is None:
        return new_id(IdKind.PRICE), raw
    if not isinstance(price_id, str) or price_id not in existing:
        raise FieldError(f"prices[{index}].id", f"no price {price_id!r} in this plan")
    old = existing[price_id]
    return price_id, {"metric_id": old.metric_id, **old.definition, **raw}


def _no_metric(metric_id: object, mode: Mode) -> str:
    """Why a price's `metric_id` names no metric of this mode (absent: "is required", never `None`)."""
    if metric_id is None:
        return "is required"
    if not isinstance(metric_id, str):
        return "must be a metric's id (a string)"
    return f"no metric {metric_id!r} in {mode} mode"


async def plan_prices(raw_prices: list[dict[str, Any]], mode: Mode, ctx: GatewayContext,
                      existing: tuple[PlanPrice, ...] = ()) -> tuple[PlanPrice, ...]:
    """The plan's prices, each checked (its metric in this mode, its definition): the existing ones in
    their order, updated where an item names them, then the new ones."""
    by_id = {price.id: price for price in existing}
    given = [_merged(raw, index, by_id) for index, raw in enumerate(raw_prices)]
    known = await ctx.catalog.metrics_by_id(mode, [m for _, raw in given if isinstance(m := raw.get("metric_id"), str)])
    checked: dict[str, PlanPrice] = {}
    for index, (price_id, raw) in enumerate(given):
        metric_id = raw.get("metric_id")
        if not isinstance(metric_id, str) or metric_id not in known:
            raise FieldError(f"prices[{index}].metric_id", _no_metric(metric_id, mode))
        try:
            parse_price(raw)
        except PriceError as exc:
            raise FieldError(f"prices[{index}].{exc.param}" if exc.param else f"prices[{index}]",
                             exc.message) from None
        definition = _decimal_strings({k: v for k, v in raw.items() if k not in {"id", "metric_id"}})
        checked[price_id] = PlanPrice(price_id, metric_id, definition)
    kept = [checked.pop(price.id, price) for price in existing]
    return (*kept, *checked.values())


@router.post("/plans", status_code=201)
async def create_plan(body: PlanIn, mode: Mode = Depends(authenticated_mode),
                      ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    plan = Plan(new_id(IdKind.PLAN), mode, body.name, body.description, body.currency, body.plan_type.value,
                body.billing_period, await plan_prices(body.prices, mode, ctx), ctx.clock.now(),
                body.trial_period_days, body.vat_rate)
    await ctx.catalog.add_plan(plan)
    return one_json("plan", plan_json(plan, ctx.settings.org_id))


