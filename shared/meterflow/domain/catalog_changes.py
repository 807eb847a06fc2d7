"""What may change in the catalog once it is in use (the guards docs/api.md lists per call), decided here for every
caller: the routes only load, call these rules and store.

- A metric's counting rule (`event_name`, `aggregation`, `aggregation_property`) is fixed once a price
  uses it: changing it would silently change what past periods of open invoices mean (400, as Monigo
  documents for "a metric already used for billing").
- A plan's `currency`, `billing_period` and `plan_type` are fixed while a subscription uses it (409): its
  periods and its invoices' money are defined by them. Everything else applies to every invoice not yet
  finalized.
- Nothing in use is deleted: a customer with an active or paused subscription, a metric a price uses, a
  plan a subscription uses (409).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from meterflow.domain.catalog import Customer, Metric, Plan
from meterflow.domain.errors import Conflict, FieldError

T = TypeVar("T", Customer, Metric, Plan)  # the catalog objects a change applies to
METRIC_RULE_FIELDS = ("event_name", "aggregation", "aggregation_property")
PLAN_TERMS = ("currency", "billing_period", "plan_type")


def changed(item: T, changes: Mapping[str, Any], now: datetime) -> T:
    """`item` with `changes` applied (only the fields given) and `updated_at` = now."""
    return replace(item, **changes, updated_at=now)


def check_metric_change(metric: Metric, changes: Mapping[str, Any], priced: bool) -> None:
    if not priced:
        return
    for name in METRIC_RULE_FIELDS:
        if name in changes and changes[name] != getattr(metric, name):
            raise FieldError(name, "cannot change once a price uses this metric (it defines what was billed)")


def check_plan_change(plan: Plan, changes: Mapping[str, Any], subscribed: bool) -> None:
    if not subscribed:
        return
    for name in PLAN_TERMS:
        if name in changes and changes[name] != getattr(plan, name):
            raise Conflict(f"{name} cannot change while a subscription uses this plan", name)


def refuse_delete_in_use(kind: str, used_by: str | None) -> None:
    if used_by is not None:
        raise Conflict(f"this {kind} cannot be deleted while {used_by}", "id")
