"""`GET /v1/usage/unbilled`: a customer's counted usage that no period bills, per metric and reason
(docs/billing-periods.md). Thin: the window is checked like `GET /v1/usage`'s, the use case finds the spans."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query

from meterflow.application.unbilled import Unbilled, UnbilledUsage
from meterflow.domain.inputs import IdText, Timestamp
from meterflow.domain.modes import Mode
from meterflow.domain.presentation import decimal_text, timestamp_text
from meterflow.domain.usage_windows import usage_window
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context
from services.gateway.errors import found_or_404
from services.gateway.schemas import ExactJSONResponse

router = APIRouter(prefix="/v1/usage", route_class=checked_route())


def unbilled_json(customer_id: str, row: Unbilled) -> dict[str, Any]:
    """`value` a JSON number with the figure's own digits, `value_exact` the same as a decimal string."""
    exact = decimal_text(row.value) or "0"
    return {"customer_id": customer_id, "metric_id": row.metric.id, "reason": row.reason.value,
            "value": Decimal(exact), "value_exact": exact, "event_count": row.events,
            "from": timestamp_text(row.period.start), "to": timestamp_text(row.period.end)}


@router.get("/unbilled")
async def unbilled(customer_id: IdText, metric_id: IdText | None = None,
                   start: Timestamp = Query(alias="from"), to: Timestamp = Query(),
                   mode: Mode = Depends(authenticated_mode),
                   ctx: GatewayContext = Depends(context)) -> ExactJSONResponse:
    window = usage_window(start, to, timedelta(seconds=ctx.settings.rollup_retention_s))
    assert window is not None  # both bounds are required parameters
    found_or_404(await ctx.catalog.customer(mode, customer_id), "customer", customer_id, "customer_id")
    if metric_id is not None:
        found_or_404(await ctx.catalog.metric(mode, metric_id), "metric", metric_id, "metric_id")
    rows = await UnbilledUsage(ctx.catalog, ctx.usage).of_customer(
        mode, customer_id, window, None if metric_id is None else [metric_id])
    items = [unbilled_json(customer_id, row) for row in rows]
    return ExactJSONResponse({"unbilled": items, "count": len(items)})
