"""`/v1/customers`: who is billed. `external_id` is your own id for the customer, unique per mode."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query


class Customer(APIObject):
    id: str
    org_id: str
    external_id: str
    name: str
    email: str | None
    phone: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Customers(Resource[S]):
    @operation("POST", "/v1/customers")
    def create(*, external_id: str, name: str, email: str | None = None, phone: str | None = None,
               metadata: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Call[Customer]:
        body = given(external_id=external_id, name=name, email=email, phone=phone, metadata=metadata)
        return Call(one("customer", Customer), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/customers/{object_id}")
    def get(customer_id: str) -> Call[Customer]:
        return Call(one("customer", Customer), path={"object_id": customer_id})

    @paged("/v1/customers", "customers")
    def list(*, external_id: str | None = None, limit: int | None = None) -> Cursor[Customer]:
        """`external_id`: the customer (not deleted) with that id of yours, if any."""
        return Cursor(Customer, query(external_id=external_id, limit=limit))

    @operation("PUT", "/v1/customers/{object_id}")
    def update(customer_id: str, *, name: str | None = None, email: str | None = None, phone: str | None = None,
               metadata: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Call[Customer]:
        """Only the fields given change."""
        body = given(name=name, email=email, phone=phone, metadata=metadata)
        return Call(one("customer", Customer), path={"object_id": customer_id}, body=body,
                    idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/customers/{object_id}")
    def delete(customer_id: str) -> Call[Deleted]:
        return Call(whole(Deleted), path={"object_id": customer_id})
