"""Accounting (docs/accounting.md): the reconciliation per hour of receipt, and the accounting figures the
gateway exports on `/metrics` and in `/readyz`. Thin: the rules live in `domain/accounting.py`, the
reads in `application/accounting.py`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from meterflow.domain.accounting import HourFigures, LossReport, unacknowledged_losses
from meterflow.domain.events import format_timestamp
from meterflow.domain.inputs import Timestamp
from meterflow.domain.modes import Mode
from meterflow.observability import ACCOUNTING_IN_FLIGHT, ACCOUNTING_OLDEST_IN_FLIGHT_AGE, EVENTS_LOST, HOURS_LOST
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import checked_route
from services.gateway.context import GatewayContext, context

router = APIRouter(prefix="/v1", route_class=checked_route())
ACCOUNTING_REFRESH_S = 5.0


class HourOut(BaseModel):
    hour: str
    acknowledged: int
    counted: int
    duplicates: int
    dead_lettered: int
    lost: int
    in_flight: int


class Reconciliation(BaseModel):
    hours: list[HourOut]
    count: int


def hour_json(row: HourFigures) -> dict[str, Any]:
    return {"hour": format_timestamp(row.hour), "acknowledged": row.acknowledged, "counted": row.counted,
            "duplicates": row.duplicates, "dead_lettered": row.dead_lettered, "lost": row.lost,
            "in_flight": row.in_flight}


@router.get("/reconciliation", response_model=Reconciliation)
async def reconciliation(start: Timestamp | None = Query(None, alias="from", description="whole hour, inclusive"),
                         to: Timestamp | None = Query(None, description="whole hour, exclusive"),
                         mode: Mode = Depends(authenticated_mode),
                         ctx: GatewayContext = Depends(context)) -> dict[str, Any]:
    """One row per hour of receipt of the key's mode, oldest first (default: the last 24 hours):
    acknowledged = counted + duplicates + dead_lettered + lost + in_flight, and in_flight falls to 0
    once the processor has caught up."""
    rows = await ctx.reconciliation.hours(mode, start, to)
    return {"hours": [hour_json(row) for row in rows], "count": len(rows)}


@dataclass
class AccountingGauges:
    """The accounting gauges and the losses readiness reports, read from Redis at most every
    `ACCOUNTING_REFRESH_S` (a scrape or a probe in between gets the last reading): a read covers the
    whole retention, one script call per mode, and probes may come often from many load balancers."""

    losses: list[LossReport] = field(default_factory=list)
    read_at: float | None = None

    async def refresh(self, ctx: GatewayContext) -> list[LossReport]:
        now = time.monotonic()
        if self.read_at is not None and now - self.read_at < ACCOUNTING_REFRESH_S:
            return self.losses
        losses = []
        for mode in Mode:
            rows = await ctx.reconciliation.kept(mode)
            ACCOUNTING_OLDEST_IN_FLIGHT_AGE.labels(mode.value).set(ctx.reconciliation.oldest_in_flight_age(rows))
            ACCOUNTING_IN_FLIGHT.labels(mode.value).set(sum(max(0, row.in_flight) for row in rows))
            loss = unacknowledged_losses(mode, rows)
            EVENTS_LOST.labels(mode.value).set(loss.events)
            HOURS_LOST.labels(mode.value).set(len(loss.hours))
            losses.append(loss)
        self.losses, self.read_at = losses, now
        return losses


def loss_json(losses: list[LossReport]) -> dict[str, Any]:
    """What readiness says of lost events (nothing when none is unacknowledged)."""
    return {loss.mode.value: {"events": loss.events, "hours": {format_timestamp(h): n for h, n in loss.hours.items()}}
            for loss in losses if loss.events}
