"""`/v1/metrics`: what is counted, from which events, with which aggregation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query

Aggregation = Literal["count", "sum", "max", "minimum", "average", "unique"]


class Metric(APIObject):
    id: str
    org_id: str
    name: str
    event_name: str
    aggregation: str
    aggregation_property: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class Metrics(Resource[S]):
    @operation("POST", "/v1/metrics")
    def create(*, name: str, event_name: str, aggregation: Aggregation, aggregation_property: str | None = None,
               description: str | None = None, idempotency_key: str | None = None) -> Call[Metric]:
        """`aggregation_property` names the event property summed, maxed, averaged or counted uniquely
        (not given for `count`)."""
        body = given(name=name, event_name=event_name, aggregation=aggregation,
                     aggregation_property=aggregation_property, description=description)
        return Call(one("metric", Metric), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/metrics/{object_id}")
    def get(metric_id: str) -> Call[Metric]:
        return Call(one("metric", Metric), path={"object_id": metric_id})

    @paged("/v1/metrics", "metrics")
    def list(*, limit: int | None = None) -> Cursor[Metric]:
        return Cursor(Metric, query(limit=limit))

    @operation("PUT", "/v1/metrics/{object_id}")
    def update(metric_id: str, *, name: str | None = None, event_name: str | None = None,
               aggregation: Aggregation | None = None, aggregation_property: str | None = None,
               description: str | None = None, idempotency_key: str | None = None) -> Call[Metric]:
        """Only the fields given change."""
        body = given(name=name, event_name=event_name, aggregation=aggregation,
                     aggregation_property=aggregation_property, description=description)
        return Call(one("metric", Metric), path={"object_id": metric_id}, body=body, idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/metrics/{object_id}")
    def delete(metric_id: str) -> Call[Deleted]:
        return Call(whole(Deleted), path={"object_id": metric_id})
