"""The in-memory alert state store, for unit tests of alert evaluation. It keeps the guard the Postgres
adapter keeps (tests/integration/test_alert_evaluation_contract.py runs the same contract on both): one
state per (alert, threshold, subject, period key); re-arming moves an armed state under a key of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from meterflow.domain.alerts import ARMED, Alert, AlertScope, AlertState
from meterflow.domain.catalog import Subscription, SubscriptionStatus

StateKey = tuple[str, int, str, str]


@dataclass
class AlertTables:
    alerts: dict[str, Alert] = field(default_factory=dict)
    states: dict[StateKey, AlertState] = field(default_factory=dict)


class SubscriptionTables(Protocol):
    subscriptions: dict[str, Subscription]
    alerts: AlertTables


def _key(s: AlertState) -> StateKey:
    return s.alert_id, s.threshold_index, s.subject_id, s.period_key


class FakeAlertStates:
    def __init__(self, billing: SubscriptionTables) -> None:
        self._billing = billing

    async def enabled_alerts(self) -> list[Alert]:
        return [a for a in self._billing.alerts.alerts.values() if a.enabled]

    async def subscriptions_in_scope(self, alert: Alert) -> list[Subscription]:
        column = {AlertScope.CUSTOMER: "customer_id", AlertScope.SUBSCRIPTION: "id", AlertScope.PLAN: "plan_id"}
        return [s for s in self._billing.subscriptions.values() if s.mode is alert.mode
                and s.status == SubscriptionStatus.ACTIVE and getattr(s, column[alert.scope]) == alert.scope_id]

    async def fire(self, states: Sequence[AlertState]) -> list[AlertState]:
        fresh = [s for s in states if _key(s) not in self._billing.alerts.states]
        self._billing.alerts.states.update({_key(s): s for s in fresh})
        return fresh

    async def rearm(self, alert_id: str, subject_id: str, threshold_indexes: Sequence[int], at: datetime) -> None:
        table = self._billing.alerts.states
        for index in threshold_indexes:
            armed = table.pop((alert_id, index, subject_id, ARMED), None)
            if armed is not None:
                history = replace(armed, period_key=f"rearmed {at.isoformat()}")
                table[_key(history)] = history
