"""Request bodies and the JSON shape of every resource (api.md): money and quantities as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

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
    PhoneText,
    Timestamp,
)
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.rollups import Aggregation
from services.gateway.ingest import MAX_EVENTS_PER_BATCH

MAX_PRICES_PER_PLAN = 100


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerIn(_Body):
    external_id: NameText
    name: NameText
    email: EmailText | None = None
    phone: PhoneText | None = None
    metadata: Metadata = Field(default_factory=dict)


class CustomerUpdate(_Body):
    """PUT with partial semantics (monigo-wire.md §3): only the fields given change."""

    name: NameText | None = None
    email: EmailText | None = None
    phone: PhoneText | None = None
    metadata: Metadata | None = None


class MetricUpdate(_Body):
    name: NameText | None = None
    event_name: EventNameText | None = None
    aggregation: Aggregation | None = None
    aggregation_property: NameText | None = None
    description: DescriptionText | None = None


class MetricIn(_Body):
    name: NameText
    event_name: EventNameText
    aggregation: Aggregation
    aggregation_property: NameText | None = None
    description: DescriptionText | None = None


TrialDays = Annotated[StrictInt, Field(ge=0, le=3_650)]  # Monigo's clients send an integer; `true` is no day
# A percentage ("7.5"), kept exactly as given (billing.md §4: the VAT amount is rounded once, not the rate).
VatRate = Annotated[Decimal, Field(ge=0, le=100)]


class PlanType(StrEnum):
    COLLECTION = "collection"
    PAYOUT = "payout"


class PlanIn(_Body):
    name: NameText
    description: DescriptionText | None = None
    currency: CurrencyCode = "NGN"  # Monigo's defaults (monigo-wire.md §5)
    plan_type: PlanType = PlanType.COLLECTION
    billing_period: BillingInterval = BillingInterval.MONTHLY
    trial_period_days: TrialDays = 0
    vat_rate: VatRate = Decimal(0)
    prices: list[FreeFormObject] = Field(default_factory=list, max_length=MAX_PRICES_PER_PLAN)


class PlanUpdate(_Body):
    """An item of `prices` with an `id` updates that price (only the keys given), one without adds a
    price; prices not listed stay."""

    name: NameText | None = None
    description: DescriptionText | None = None
    currency: CurrencyCode | None = None
    plan_type: PlanType | None = None
    billing_period: BillingInterval | None = None
    trial_period_days: TrialDays | None = None
    vat_rate: VatRate | None = None
    prices: list[FreeFormObject] | None = Field(None, max_length=MAX_PRICES_PER_PLAN)


StatusFilter = Literal["active", "paused", "canceled"]


class SubscriptionStatusIn(_Body):
    status: StatusFilter


class MarkPaidIn(_Body):
    paid_at: Timestamp | None = None
    provider_invoice_id: NameText | None = None


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


def _stamps(created_at: datetime, *changes: datetime | None) -> dict[str, str | None]:
    """`created_at`, and `updated_at` = the latest change known (the creation when there is none)."""
    return {"created_at": _ts(created_at), "updated_at": _ts(max([created_at, *(c for c in changes if c)]))}


def customer_json(c: Customer, org_id: str) -> dict[str, Any]:
    return {"id": c.id, "org_id": org_id, "external_id": c.external_id, "name": c.name, "email": c.email,
            "phone": c.phone, "metadata": c.metadata, **_stamps(c.created_at, c.updated_at)}


def metric_json(m: Metric, org_id: str) -> dict[str, Any]:
    return {"id": m.id, "org_id": org_id, "name": m.name, "event_name": m.event_name,
            "aggregation": m.aggregation.value, "aggregation_property": m.aggregation_property,
            "description": m.description, **_stamps(m.created_at, m.updated_at)}


def plan_json(p: Plan, org_id: str) -> dict[str, Any]:
    prices = [{**price.definition, "id": price.id, "plan_id": p.id, "metric_id": price.metric_id,
               **_stamps(p.created_at, p.updated_at)} for price in p.prices]
    return {"id": p.id, "org_id": org_id, "name": p.name, "description": p.description, "currency": p.currency,
            "plan_type": p.plan_type, "billing_period": p.billing_period.value,
            "trial_period_days": p.trial_period_days, "vat_rate": decimal_text(p.vat_rate),
            "prices": prices, **_stamps(p.created_at, p.updated_at)}


def subscription_json(s: Subscription, org_id: str) -> dict[str, Any]:
    return {"id": s.id, "org_id": org_id, "customer_id": s.customer_id, "plan_id": s.plan_id,
            "status": s.status, "start_date": _ts(s.anchor),
            "current_period_start": _ts(s.current_period.start), "current_period_end": _ts(s.current_period.end),
            "trial_ends_at": _ts(s.trial_ends_at), "cancel_at_period_end": s.cancel_at_period_end,
            "canceled_at": _ts(s.canceled_at), **_stamps(s.created_at, s.canceled_at, s.updated_at)}


def invoice_json(i: Invoice, org_id: str) -> dict[str, Any]:
    created = _ts(i.created_at)
    return {
        "id": i.id, "org_id": org_id, "customer_id": i.customer_id, "subscription_id": i.subscription_id,
        "status": i.status.value, "currency": i.currency, "period_start": _ts(i.period.start),
        "period_end": _ts(i.period.end),
        "line_items": [{"id": f"{i.id}_li{n}", "invoice_id": i.id, "metric_id": li.metric_id,
                        "price_id": li.price_id, "description": li.description,
                        "quantity": decimal_text(li.quantity), "unit_price": decimal_text(li.unit_price),
                        "amount": decimal_text(li.amount), "created_at": created}
                       for n, li in enumerate(i.lines)],
        "subtotal": decimal_text(i.subtotal), "vat_enabled": i.vat_enabled, "vat_rate": decimal_text(i.vat_rate),
        "vat_amount": decimal_text(i.vat_amount), "total": decimal_text(i.total),
        "finalized_at": _ts(i.finalized_at), "paid_at": _ts(i.paid_at), "provider_invoice_id": i.provider_invoice_id,
        **_stamps(i.created_at, i.finalized_at, i.voided_at, i.paid_at),
    }


def rollup_json(org_id: str, mode: Mode, customer_id: str, metric: Metric, period: Period, value: Decimal,
                events: int, unbillable: int, now: datetime) -> dict[str, Any]:
    """One (customer, metric, period) figure. `value` is a JSON number, as Monigo's clients decode it,
    written with the Decimal's own digits in plain notation (never through a binary float);
    `value_exact` is the same figure as a decimal string for clients that must not lose a digit."""
    exact = decimal_text(value) or "0"
    return {"id": f"rlp_{customer_id}_{metric.id}_{int(period.start.timestamp())}", "org_id": org_id,
            "customer_id": customer_id, "metric_id": metric.id, "aggregation": metric.aggregation.value,
            "period_start": _ts(period.start), "period_end": _ts(period.end), "value": Decimal(exact),
            "value_exact": exact, "event_count": events, "unbillable_count": unbillable, "last_event_at": None,
            "is_test": mode is Mode.TEST, "created_at": _ts(now), "updated_at": _ts(now)}


def one_json(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A single object, wrapped under its singular name as Monigo's clients read it."""
    return {name: item}


def page_json(plural: str, items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A list: Monigo's `{"<plural>": [...], "count": N}` plus meterflow's `has_more` for paging."""
    return {plural: items, "count": len(items), "has_more": has_more}
