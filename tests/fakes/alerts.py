"""The in-memory alert state store, for unit tests of alert evaluation. It keeps the guard the Postgres
adapter keeps (tests/integration/test_alert_evaluation_contract.py runs the same contract on both): one
state per (alert, threshold, subject, period key); re-arming moves an armed state under a key of its own."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from meterflow.domain.alerts import ARMED, Alert, AlertScope, AlertState, AlertType
from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.modes import Mode

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

    async def watching(self, customers: Collection[tuple[Mode, str]] | None) -> list[tuple[Alert, list[Subscription]]]:
        column = {AlertScope.CUSTOMER: "customer_id", AlertScope.SUBSCRIPTION: "id", AlertScope.PLAN: "plan_id"}
        watched = []
        for alert in sorted(self._billing.alerts.alerts.values(), key=lambda a: (a.created_at, a.id)):
            if not alert.enabled or alert.type is AlertType.WALLET_BALANCE_DROPPED:
                continue
            subscriptions = [s for s in self._billing.subscriptions.values() if s.mode is alert.mode
                             and s.status == SubscriptionStatus.ACTIVE
                             and getattr(s, column[alert.scope]) == alert.scope_id
                             and (customers is None or (s.mode, s.customer_id) in customers)]
            if subscriptions:
                watched.append((alert, sorted(subscriptions, key=lambda s: s.id)))
        return watched

    async def balance_alerts(self, mode: Mode, customer_id: str) -> list[Alert]:
        return [a for a in self._billing.alerts.alerts.values() if a.enabled and a.mode is mode
                and a.type is AlertType.WALLET_BALANCE_DROPPED and a.scope_id == customer_id]

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
