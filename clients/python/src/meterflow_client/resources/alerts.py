"""`/v1/alerts`: thresholds on a customer's, subscription's or plan's usage (`usage_exceeded`, with a
`metric_id`), on the open period's cost (`cost_exceeded`, the draft invoice's total) or on a wallet's
balance (`wallet_balance_dropped`, with a `currency`). The closer checks them every few seconds; a
threshold fires once per subscription and period (per wallet until its balance rises above it again),
as an `alert.triggered` webhook and as a state on the alert. An alert that requires acknowledgment keeps
its states `triggered` until `acknowledge`. Threshold values are `Decimal`s, never floats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal, NotRequired, TypedDict

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, whole
from meterflow_client._wire import given, query

AlertType = Literal["usage_exceeded", "cost_exceeded", "wallet_balance_dropped"]
AlertScope = Literal["customer", "subscription", "plan"]
AlertStatus = Literal["enabled", "disabled"]


class ThresholdParams(TypedDict):
    """A threshold as sent: thresholds are listed in strictly ascending `value` (1 to 20 of them)."""

    value: Decimal
    label: NotRequired[str]


class Threshold(APIObject):
    value: Decimal
    label: str


class AlertState(APIObject):
    """A threshold that fired for one subject: a subscription's period, or a wallet."""

    threshold_index: int
    label: str
    value: Decimal
    subscription_id: str | None
    wallet_id: str | None
    period_start: datetime | None
    observed: Decimal
    status: str
    triggered_at: datetime
    acknowledged_at: datetime | None


class Alert(APIObject):
    id: str
    org_id: str
    type: str
    scope: str
    scope_id: str
    metric_id: str | None  # a usage alert's
    currency: str | None  # a balance alert's
    thresholds: list[Threshold]
    require_acknowledgment: bool
    status: str
    is_test: bool
    states: list[AlertState]
    created_at: datetime
    updated_at: datetime


class AlertList(APIObject):
    alerts: list[Alert]
    count: int


def _thresholds(thresholds: Sequence[ThresholdParams]) -> list[dict[str, object]]:
    """Values as decimal text, the only form the API takes for them."""
    return [{**t, "value": format(Decimal(t["value"]), "f")} for t in thresholds]


def _alert(alert_id: str, idempotency_key: str | None = None) -> Call[Alert]:
    return Call(one("alert", Alert), path={"alert_id": alert_id}, idempotency_key=idempotency_key)


class Alerts(Resource[S]):
    @operation("POST", "/v1/alerts")
    def create(*, type: AlertType, scope: AlertScope, scope_id: str, thresholds: Sequence[ThresholdParams],
               metric_id: str | None = None, currency: str | None = None, require_acknowledgment: bool | None = None,
               idempotency_key: str | None = None) -> Call[Alert]:
        """One alert of a type per scope (a second raises `ConflictError`)."""
        body = given(type=type, scope=scope, scope_id=scope_id, thresholds=_thresholds(thresholds),
                     metric_id=metric_id, currency=currency, require_acknowledgment=require_acknowledgment)
        return Call(one("alert", Alert), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/alerts")
    def list(*, type: AlertType | None = None, scope: AlertScope | None = None, customer_id: str | None = None,
             subscription_id: str | None = None, plan_id: str | None = None, limit: int | None = None,
             offset: int | None = None) -> Call[AlertList]:
        """Newest first; `customer_id`, `subscription_id`, `plan_id` each narrow to alerts on that scope."""
        return Call(whole(AlertList), params=query(type=type, scope=scope, customer_id=customer_id,
                                                   subscription_id=subscription_id, plan_id=plan_id, limit=limit,
                                                   offset=offset))

    @operation("GET", "/v1/alerts/{alert_id}")
    def get(alert_id: str) -> Call[Alert]:
        return _alert(alert_id)

    @operation("PUT", "/v1/alerts/{alert_id}")
    def update(alert_id: str, *, thresholds: Sequence[ThresholdParams],
               idempotency_key: str | None = None) -> Call[Alert]:
        """Replace the thresholds."""
        return Call(one("alert", Alert), path={"alert_id": alert_id}, body={"thresholds": _thresholds(thresholds)},
                    idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/alerts/{alert_id}")
    def delete(alert_id: str) -> Call[Deleted]:
        return Call(whole(Deleted), path={"alert_id": alert_id})

    @operation("POST", "/v1/alerts/{alert_id}/enable")
    def enable(alert_id: str, *, idempotency_key: str | None = None) -> Call[Alert]:
        return _alert(alert_id, idempotency_key)

    @operation("POST", "/v1/alerts/{alert_id}/disable")
    def disable(alert_id: str, *, idempotency_key: str | None = None) -> Call[Alert]:
        return _alert(alert_id, idempotency_key)

    @operation("POST", "/v1/alerts/{alert_id}/acknowledge")
    def acknowledge(alert_id: str, *, idempotency_key: str | None = None) -> Call[Alert]:
        """Mark the alert's triggered states acknowledged."""
        return _alert(alert_id, idempotency_key)
