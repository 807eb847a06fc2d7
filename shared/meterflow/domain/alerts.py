"""Usage alerts (docs/wallets.md, "Alerts"): what an alert watches, its ordered thresholds, and which of them
an observed figure crosses. Pure: the figures and the time are given.

Invariants:
- thresholds are strictly ascending by value (a 400 names the first one that is not);
- `usage_exceeded` and `cost_exceeded` fire a threshold when the figure reaches it (`>=`), at most once per
  (alert, threshold, subscription, billing period): the state's key is that tuple, and the store's unique
  index on it is the final guard, so retries, replays, restarts and two evaluators fire it once;
- `wallet_balance_dropped` fires when a wallet's balance is at or below the value, once per (alert,
  threshold, wallet) until the balance rises above it again, which re-arms it (`rearmed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode

MAX_THRESHOLDS = 20
MAX_LABEL_CHARS = 255
_VALUE = re.compile(r"-?\d{1,18}(\.\d{1,18})?")
# The period key of a balance threshold while it is armed; re-arming renames the state's key, so that the
# next drop inserts a new state under the same unique index.
ARMED = "armed"


class AlertType(StrEnum):
    USAGE_EXCEEDED = "usage_exceeded"
    COST_EXCEEDED = "cost_exceeded"
    WALLET_BALANCE_DROPPED = "wallet_balance_dropped"


class AlertScope(StrEnum):
    CUSTOMER = "customer"
    SUBSCRIPTION = "subscription"
    PLAN = "plan"


@dataclass(frozen=True)
class Threshold:
    value: Decimal
    label: str


@dataclass(frozen=True)
class AlertState:
    """One threshold fired for one subject (a subscription's period, or a wallet)."""

    alert_id: str
    threshold_index: int
    label: str
    value: Decimal
    subject_id: str
    period_key: str
    period_start: datetime | None
    observed: Decimal
    triggered_at: datetime
    acknowledged_at: datetime | None = None


@dataclass(frozen=True)
class Alert:
    id: str
    mode: Mode
    type: AlertType
    scope: AlertScope
    scope_id: str
    metric_id: str | None
    currency: str | None
    thresholds: tuple[Threshold, ...]
    require_acknowledgment: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime
    states: tuple[AlertState, ...] = ()


@dataclass(frozen=True)
class AlertFiring:
    """What `alert.triggered` reports: the alert and the state just fired."""

    alert: Alert
    state: AlertState

    @property
    def mode(self) -> Mode:
        return self.alert.mode


def thresholds_of(raw: list[dict[str, Any]]) -> tuple[Threshold, ...]:
    """`[{value: "100", label: "warn"}, ...]` checked: decimal text, strictly ascending, 1 to 20 of them."""
    if not 1 <= len(raw) <= MAX_THRESHOLDS:
        raise FieldError("thresholds", f"must hold 1 to {MAX_THRESHOLDS} thresholds")
    thresholds: list[Threshold] = []
    for i, item in enumerate(raw):
        value, label = item.get("value"), item.get("label", "")
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            raise FieldError(f"thresholds[{i}].value", "must be a decimal string such as \"100\" or \"50.00\"")
        if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS or "\x00" in label:
            raise FieldError(f"thresholds[{i}].label", f"must be text of at most {MAX_LABEL_CHARS} characters")
        if thresholds and Decimal(value) <= thresholds[-1].value:
            raise FieldError(f"thresholds[{i}].value", f"must be greater than thresholds[{i - 1}].value: "
                                                       "thresholds are listed in ascending order")
        thresholds.append(Threshold(Decimal(value), label))
    return tuple(thresholds)


def check_target(alert_type: AlertType, scope: AlertScope, metric_id: str | None) -> None:
    """What each type needs to know what to watch."""
    if alert_type is AlertType.USAGE_EXCEEDED and not metric_id:
        raise FieldError("metric_id", "is required for a usage_exceeded alert")
    if alert_type is AlertType.WALLET_BALANCE_DROPPED and scope is not AlertScope.CUSTOMER:
        raise FieldError("scope", "a wallet_balance_dropped alert watches a customer's wallets: scope customer")


def crossed(alert: Alert, observed: Decimal) -> list[int]:
    """Indexes of the thresholds the figure has reached (usage, cost) or dropped to (balance)."""
    if alert.type is AlertType.WALLET_BALANCE_DROPPED:
        return [i for i, t in enumerate(alert.thresholds) if observed <= t.value]
    return [i for i, t in enumerate(alert.thresholds) if observed >= t.value]


def rearmed(alert: Alert, observed: Decimal) -> list[int]:
    """Balance thresholds the balance is above again: their state is re-armed (usage and cost re-arm by
    period instead)."""
    if alert.type is not AlertType.WALLET_BALANCE_DROPPED:
        return []
    return [i for i, t in enumerate(alert.thresholds) if observed > t.value]


def firings(alert: Alert, subject_id: str, period_start: datetime | None, observed: Decimal,
            at: datetime) -> list[AlertState]:
    """The states the figure would fire; the store keeps only those not fired before under their key."""
    key = ARMED if period_start is None else period_start.isoformat()
    return [AlertState(alert.id, i, alert.thresholds[i].label, alert.thresholds[i].value, subject_id, key,
                       period_start, observed, at) for i in crossed(alert, observed)]
