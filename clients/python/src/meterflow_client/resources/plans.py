"""`/v1/plans`: what a subscription is billed, one price per metric. Money is given and read as `Decimal`
(or a decimal string), never a float: a float cannot hold 0.015 exactly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Required, TypedDict

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query

Amount = Decimal | str | int
PriceModel = Literal["flat", "flat_unit", "per_unit", "tiered", "volume", "package", "overage", "weighted_tiered"]
BillingPeriod = Literal["daily", "weekly", "monthly", "quarterly", "annually"]
PlanType = Literal["collection", "payout"]


class TierParams(TypedDict, total=False):
    up_to: Required[Amount | None]
    unit_price: Amount
    unit_amount: Amount
    flat_fee: Amount


class PriceParams(TypedDict, total=False):
    """One price of a plan (the models and their fields: docs/pricing.md). On update, an item with the
    `id` of an existing price changes only the keys given; one without adds a price."""

    id: str
    metric_id: str
    model: PriceModel
    unit_price: Amount
    unit_amount: Amount
    tiers: Sequence[TierParams] | dict[str, Any]
    package_size: Amount
    package_price: Amount
    round_up_partial_block: bool
    included_units: Amount
    base_fee: Amount
    flat_fee_when_zero: bool


class Tier(APIObject):
    up_to: Decimal | None
    unit_price: Decimal | None = None
    unit_amount: Decimal | None = None
    flat_fee: Decimal | None = None


class Price(APIObject):
    """A price as it was given (Monigo's spellings included); the settings of other models are absent."""

    id: str
    plan_id: str
    metric_id: str
    model: str
    unit_price: Decimal | None = None
    unit_amount: Decimal | None = None
    tiers: list[Tier] | dict[str, Any] | None = None
    package_size: Decimal | None = None
    package_price: Decimal | None = None
    round_up_partial_block: bool | None = None
    included_units: Decimal | None = None
    base_fee: Decimal | None = None
    flat_fee_when_zero: bool | None = None
    created_at: datetime
    updated_at: datetime


class Plan(APIObject):
    id: str
    org_id: str
    name: str
    description: str | None
    currency: str
    plan_type: str
    billing_period: str
    trial_period_days: int
    vat_rate: Decimal | None
    prices: list[Price]
    created_at: datetime
    updated_at: datetime


class Plans(Resource[S]):
    @operation("POST", "/v1/plans")
    def create(*, name: str, prices: Sequence[PriceParams] = (), description: str | None = None,
               currency: str | None = None, plan_type: PlanType | None = None,
               billing_period: BillingPeriod | None = None, trial_period_days: int | None = None,
               vat_rate: Amount | None = None, idempotency_key: str | None = None) -> Call[Plan]:
        """Unset fields take the API's defaults (NGN, collection, monthly, no trial, no VAT)."""
        body = given(name=name, prices=list(prices), description=description, currency=currency, plan_type=plan_type,
                     billing_period=billing_period, trial_period_days=trial_period_days, vat_rate=vat_rate)
        return Call(one("plan", Plan), body=body, idempotency_key=idempotency_key)

    @operation("GET", "/v1/plans/{object_id}")
    def get(plan_id: str) -> Call[Plan]:
        return Call(one("plan", Plan), path={"object_id": plan_id})

    @paged("/v1/plans", "plans")
    def list(*, limit: int | None = None) -> Cursor[Plan]:
        return Cursor(Plan, query(limit=limit))

    @operation("PUT", "/v1/plans/{object_id}")
    def update(plan_id: str, *, name: str | None = None, prices: Sequence[PriceParams] | None = None,
               description: str | None = None, currency: str | None = None, plan_type: PlanType | None = None,
               billing_period: BillingPeriod | None = None, trial_period_days: int | None = None,
               vat_rate: Amount | None = None, idempotency_key: str | None = None) -> Call[Plan]:
        """Only the fields given change; prices not listed stay."""
        body = given(name=name, prices=None if prices is None else list(prices), description=description,
                     currency=currency, plan_type=plan_type, billing_period=billing_period,
                     trial_period_days=trial_period_days, vat_rate=vat_rate)
        return Call(one("plan", Plan), path={"object_id": plan_id}, body=body, idempotency_key=idempotency_key)

    @operation("DELETE", "/v1/plans/{object_id}")
    def delete(plan_id: str) -> Call[Deleted]:
        return Call(whole(Deleted), path={"object_id": plan_id})
