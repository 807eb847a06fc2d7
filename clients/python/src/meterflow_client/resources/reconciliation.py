"""`/v1/reconciliation`: every event accounted for, per hour of receipt. For each hour,
acknowledged = counted + duplicates + dead_lettered + lost + in_flight, and `in_flight` falls to 0 once
the processor has caught up; `lost` is what a memory-only broker took with it (never silent)."""

from __future__ import annotations

from datetime import datetime

from meterflow_client._models import APIObject
from meterflow_client._operations import Call, Resource, S, operation, whole
from meterflow_client._wire import query


class HourFigures(APIObject):
    hour: datetime
    acknowledged: int
    counted: int
    duplicates: int
    dead_lettered: int
    lost: int
    in_flight: int


class ReconciliationList(APIObject):
    hours: list[HourFigures]
    count: int


class Reconciliation(Resource[S]):
    @operation("GET", "/v1/reconciliation")
    def get(*, from_: datetime | None = None, to: datetime | None = None) -> Call[ReconciliationList]:
        """Whole hours of receipt, `from_` inclusive and `to` exclusive (default: the last 24 hours), of
        the key's mode, oldest first."""
        return Call(whole(ReconciliationList), params=query(to=to, **{"from": from_}))
