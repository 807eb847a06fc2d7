"""Request bodies and the JSON shape of every resource (api.md): money and quantities as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from meterflow.domain.catalog import Customer, Metric, Plan, Subscription
from meterflow.domain.events import encode_json, format_timestamp
from meterflow.domain.inputs import (
    CurrencyCode,
    DescriptionText,
    EmailText,
    EventNameText,
    FreeFormObject,
    IdText,
    Metadata,
    NameText,
    Timestamp,
)
from meterflow.domain.invoices import Invoice
from meterflow.domain.periods import BillingInterval
from meterflow.domain.rollups import Aggregation
from services.gateway.ingest import MAX_EVENTS_PER_BATCH

MAX_PRICES_PER_PLAN = 100


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerIn(_Body):
    external_id: NameText
    name: NameText
    email: EmailText | None = None
    metadata: Metadata = Field(default_factory=dict)


class MetricIn(_Body):
    name: NameText
    event_name: EventNameText
    aggregation: Aggregation
    aggregation_property: NameText | None = None
    description: DescriptionText | None = None


class PlanType(StrEnum):
    COLLECTION = "collection"
    PAYOUT = "payout"


class PlanIn(_Body):
    name: NameText
    description: DescriptionText | None = None
    currency: CurrencyCode
    plan_type: PlanType = PlanType.COLLECTION
    billing_period: BillingInterval = BillingInterval.MONTHLY
    prices: list[FreeFormObject] = Field(min_length=1, max_length=MAX_PRICES_PER_PLAN)


class SubscriptionIn(_Body):
    customer_id: IdText
    plan_id: IdText
    start_date: Timestamp | None = None


class GenerateInvoiceIn(_Body):
    subscription_id: IdText


class IngestIn(BaseModel):
    """Each event is checked on its own (domain/events.py) and a bad one is listed in `rejected` while
    the others are accepted, so the batch schema leaves an event's shape open."""

    events: list[Any] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class ExactJSONResponse(JSONResponse):
    """JSON written by the events codec: a metadata number is written with the digits it was given
    (`0.10000000000000001`), never through a float and never turned into a string."""

    def render(self, content: Any) -> bytes:
        return encode_json(content)


def decimal_text(value: Decimal | None) -> str | None:
    """Plain notation, never exponent (`1E+3`), exactly the digits the value carries."""
    return None if value is None else format(value, "f")


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def customer_json(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "object": "customer", "external_id": c.external_id, "name": c.name, "email": c.email,
            "metadata": c.metadata, "created_at": _ts(c.created_at)}


def metric_json(m: Metric) -> dict[str, Any]:
    return {"id": m.id, "object": "metric", "name": m.name, "event_name": m.event_name,
            "aggregation": m.aggregation.value, "aggregation_property": m.aggregation_property,
            "description": m.description, "created_at": _ts(m.created_at)}


def plan_json(p: Plan) -> dict[str, Any]:
    return {"id": p.id, "object": "plan", "name": p.name, "description": p.description, "currency": p.currency,
            "plan_type": p.plan_type, "billing_period": p.billing_period.value,
            "prices": [{**price.definition, "id": price.id, "metric_id": price.metric_id} for price in p.prices],
            "created_at": _ts(p.created_at)}


def subscription_json(s: Subscription) -> dict[str, Any]:
    return {"id": s.id, "object": "subscription", "customer_id": s.customer_id, "plan_id": s.plan_id,
            "status": s.status, "start_date": _ts(s.anchor),
            "current_period_start": _ts(s.current_period.start), "current_period_end": _ts(s.current_period.end),
            "cancel_at_period_end": s.cancel_at_period_end, "canceled_at": _ts(s.canceled_at),
            "created_at": _ts(s.created_at)}


def invoice_json(i: Invoice) -> dict[str, Any]:
    return {
        "id": i.id, "object": "invoice", "customer_id": i.customer_id, "subscription_id": i.subscription_id,
        "status": i.status.value, "currency": i.currency, "period_start": _ts(i.period.start),
        "period_end": _ts(i.period.end),
        "line_items": [{"metric_id": li.metric_id, "price_id": li.price_id, "description": li.description,
                        "quantity": decimal_text(li.quantity), "unit_price": decimal_text(li.unit_price),
                        "amount": decimal_text(li.amount)} for li in i.lines],
        "subtotal": decimal_text(i.subtotal), "total": decimal_text(i.total), "created_at": _ts(i.created_at),
        "finalized_at": _ts(i.finalized_at),
    }


def page_json(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": has_more}
