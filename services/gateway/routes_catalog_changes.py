"""PUT (partial: only the fields given change) and DELETE of customers, metrics and plans; the guards
are the domain's (domain/catalog_changes.py), the use cases application/catalog_changes.py's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends

from meterflow.application.catalog_changes import CatalogChanges
from meterflow.domain.inputs import IdText
from meterflow.domain.modes import Mode
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.routes_catalog import catalog_changes
from services.gateway.schemas import (
    CustomerUpdate,
    ExactJSONResponse,
    MetricUpdate,
    PlanUpdate,
    customer_json,
    metric_json,
    one_json,
    plan_json,
)

router = APIRouter(prefix="/v1", route_class=checked_route())


def _given(body: Any) -> dict[str, Any]:
    """Only the fields the client sent (Monigo's clients leave out what they do not change); `null` is
    "not given" too, as a field cannot be cleared (docs/monigo.md)."""
    return {name: getattr(body, name) for name in body.model_fields_set
            if name != "prices" and getattr(body, name) is not None}


def _delete_route(collection: str, kind: str,
                  delete: Callable[[CatalogChanges, Mode, str], Awaitable[None]]) -> None:
    """`DELETE /v1/<collection>/{id}`: 200 with Monigo's `{"message"}` (its clients ignore the body)."""

    @router.delete(f"/{collection}/{{object_id}}", name=f"delete_{kind}")
    async def delete_one(object_id: IdText, mode: Mode = Depends(authenticated_mode),
                         use_case: CatalogChanges = Depends(catalog_changes)) -> dict[str, str]:
        await delete(use_case, mode, object_id)
        return {"message": f"{kind.capitalize()} deleted successfully"}


_delete_route("customers", "customer", CatalogChanges.delete_customer)
_delete_route("metrics", "metric", CatalogChanges.delete_metric)
_delete_route("plans", "plan", CatalogChanges.delete_plan)


@router.put("/customers/{object_id}")
async def update_customer(object_id: IdText, body: CustomerUpdate, mode: Mode = Depends(authenticated_mode),
                          use_case: CatalogChanges = Depends(catalog_changes),
                          ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
    customer = await use_case.update_customer(mode, object_id, _given(body))
    return ExactJSONResponse(one_json("customer", customer_json(customer, ctx.settings.org_id)))


@router.put("/metrics/{object_id}")
async def update_metric(object_id: IdText, body: MetricUpdate, mode: Mode = Depends(authenticated_mode),
                        use_case: CatalogChanges = Depends(catalog_changes),
                        ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    metric = await use_case.update_metric(mode, object_id, _given(body))
    return one_json("metric", metric_json(metric, ctx.settings.org_id))


@router.put("/plans/{object_id}")
async def update_plan(object_id: IdText, body: PlanUpdate, mode: Mode = Depends(authenticated_mode),
                      use_case: CatalogChanges = Depends(catalog_changes),
                      ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    given = {k: (v.value if k == "plan_type" else v) for k, v in _given(body).items()}
    updated = await use_case.update_plan(mode, object_id, given, body.prices)
    return one_json("plan", plan_json(updated, ctx.settings.org_id))


