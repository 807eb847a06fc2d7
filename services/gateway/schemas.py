"""Request bodies and the JSON shape of every resource (docs/api.md): money and quantities as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from meterflow.domain.catalog import Metric
from meterflow.domain.events import encode_json
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
from meterflow.domain.modes import Mode
from meterflow.domain.periods import BillingInterval, Period
from meterflow.domain.presentation import customer_json as customer_json
from meterflow.domain.presentation import decimal_text as decimal_text
from meterflow.domain.presentation import invoice_json as invoice_json
from meterflow.domain.presentation import metric_json as metric_json
from meterflow.domain.presentation import plan_json as plan_json
from meterflow.domain.presentation import subscription_json as subscription_json
from meterflow.domain.presentation import timestamp_text as _ts
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
    """PUT with partial semantics (docs/monigo.md): only the fields given change."""

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
# A percentage ("7.5"), kept exactly as given (docs/billing.md, "Money and rounding": the VAT amount is rounded once,
# not the rate).
VatRate = Annotated[Decimal, Field(ge=0, le=100)]


class PlanType(StrEnum):
    COLLECTION = "collection"
    PAYOUT = "payout"


class PlanIn(_Body):
    name: NameText
    description: DescriptionText | None = None
    currency: CurrencyCode = "NGN"  # Monigo's defaults (docs/monigo.md)
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
