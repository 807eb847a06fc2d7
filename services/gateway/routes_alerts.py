"""Alerts (docs/wallets.md, "Alerts"): Monigo's `/v1/alerts` calls, with meterflow's envelopes and an
acknowledge. Thin: each route parses, calls the use case (application/alerts.py) and renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StrictBool

from meterflow.application.alerts import Alerts
from meterflow.domain.alerts import MAX_THRESHOLDS, AlertScope, AlertType
from meterflow.domain.inputs import FreeFormObject, IdText, OptionalText
from meterflow.domain.modes import Mode
from meterflow.domain.presentation import alert_json
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.schemas import _Body

router = APIRouter(prefix="/v1/alerts", route_class=checked_route())
# Each threshold's value and label are checked by the domain, which names `thresholds[i].value`.
Thresholds = Annotated[list[FreeFormObject], Field(max_length=MAX_THRESHOLDS)]


class AlertIn(_Body):
    type: AlertType
    scope: AlertScope
    scope_id: IdText
    metric_id: OptionalText = ""
    currency: OptionalText = ""
    thresholds: Thresholds
    require_acknowledgment: StrictBool = False


class ThresholdsIn(_Body):
    thresholds: Thresholds


def alerts(ctx: GatewayContext = Depends(context)) -> Alerts:
    return ctx.use_cases.alerts


def org_id(ctx: GatewayContext = Depends(context)) -> str:
    return ctx.settings.org_id


@router.post("", status_code=201)
async def create(body: AlertIn, mode: Mode = Depends(authenticated_mode), use_case: Alerts = Depends(alerts),
                 org: str = Depends(org_id)) -> dict[str, Any]:
    """409 when the scope already has an alert of that type."""
    return {"alert": alert_json(await use_case.create(mode, body.model_dump()), org)}


@router.get("")
async def list_alerts(type: AlertType | None = None, scope: AlertScope | None = None,
                      customer_id: IdText | None = None, subscription_id: IdText | None = None,
                      plan_id: IdText | None = None, limit: int = Query(100, ge=1, le=1_000),
                      offset: int = Query(0, ge=0, le=10_000_000), mode: Mode = Depends(authenticated_mode),
                      ctx: GatewayContext = Depends(context), org: str = Depends(org_id)) -> dict[str, Any]:
    """`customer_id`, `subscription_id`, `plan_id` each narrow to alerts on that scope."""
    scoped = [(s, i) for s, i in ((AlertScope.CUSTOMER, customer_id), (AlertScope.SUBSCRIPTION, subscription_id),
                                  (AlertScope.PLAN, plan_id)) if i is not None]
    scope_given, scope_id = scoped[0] if scoped else (scope, None)
    found = await ctx.stores.alerts.alerts(mode, {
        "type": type.value if type else None, "scope": scope_given.value if scope_given else None,
        "scope_id": scope_id}, limit, offset)
    return {"alerts": [alert_json(a, org) for a in found], "count": len(found)}


@router.get("/{alert_id}")
async def get_alert(alert_id: IdText, mode: Mode = Depends(authenticated_mode), use_case: Alerts = Depends(alerts),
                    org: str = Depends(org_id)) -> dict[str, Any]:
    return {"alert": alert_json(await use_case.alert(mode, alert_id), org)}


@router.put("/{alert_id}")
async def replace_thresholds(alert_id: IdText, body: ThresholdsIn, mode: Mode = Depends(authenticated_mode),
                             use_case: Alerts = Depends(alerts), org: str = Depends(org_id)) -> dict[str, Any]:
    return {"alert": alert_json(await use_case.change(mode, alert_id, thresholds=body.thresholds), org)}


@router.delete("/{alert_id}")
async def delete_alert(alert_id: IdText, mode: Mode = Depends(authenticated_mode),
                       use_case: Alerts = Depends(alerts)) -> dict[str, str]:
    await use_case.delete(mode, alert_id)
    return {"message": "Alert deleted"}


@router.post("/{alert_id}/enable")
async def enable(alert_id: IdText, mode: Mode = Depends(authenticated_mode), use_case: Alerts = Depends(alerts),
                 org: str = Depends(org_id)) -> dict[str, Any]:
    return {"alert": alert_json(await use_case.change(mode, alert_id, enabled=True), org)}


@router.post("/{alert_id}/disable")
async def disable(alert_id: IdText, mode: Mode = Depends(authenticated_mode), use_case: Alerts = Depends(alerts),
                  org: str = Depends(org_id)) -> dict[str, Any]:
    return {"alert": alert_json(await use_case.change(mode, alert_id, enabled=False), org)}


@router.post("/{alert_id}/acknowledge")
async def acknowledge(alert_id: IdText, mode: Mode = Depends(authenticated_mode), use_case: Alerts = Depends(alerts),
                      org: str = Depends(org_id)) -> dict[str, Any]:
    """Every triggered state becomes acknowledged; 409 when none is triggered."""
    return {"alert": alert_json(await use_case.acknowledge(mode, alert_id), org)}
