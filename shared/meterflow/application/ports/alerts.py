"""The ports of alert evaluation: the alerts, their states, and the transaction over both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, Self

from meterflow.application.ports.unit_of_work import WalletStore, WebhookOutboxStore
from meterflow.domain.alerts import (
    Alert,
    AlertScope,
    AlertState,
)
from meterflow.domain.catalog import Subscription
from meterflow.domain.modes import Mode


class AlertStore(Protocol):
    async def scope_exists(self, mode: Mode, scope: AlertScope, scope_id: str) -> bool: ...

    async def metric_exists(self, mode: Mode, metric_id: str) -> bool: ...

    async def add_alert(self, alert: Alert) -> None:
        """Raises Conflict when the scope already has a live alert of that type."""
        ...

    async def alert(self, mode: Mode, alert_id: str) -> Alert | None:
        """With its states, newest first."""
        ...

    async def alerts(self, mode: Mode, filters: dict[str, str | None], limit: int, offset: int) -> list[Alert]: ...

    async def save_alert(self, alert: Alert) -> None: ...

    async def delete_alert(self, mode: Mode, alert_id: str, at: datetime) -> bool: ...

    async def acknowledge(self, alert_id: str, at: datetime) -> None: ...


class AlertStateStore(Protocol):
    async def enabled_alerts(self) -> list[Alert]: ...

    async def subscriptions_in_scope(self, alert: Alert) -> list[Subscription]:
        """The active subscriptions the alert watches (each of a plan's, for a plan scope)."""
        ...

    async def fire(self, states: Sequence[AlertState]) -> list[AlertState]:
        """Insert the states; answers those inserted (one already there under its key is not)."""
        ...

    async def rearm(self, alert_id: str, subject_id: str, threshold_indexes: Sequence[int], at: datetime) -> None: ...


class AlertUnitOfWork(Protocol):
    @property
    def alerts(self) -> AlertStateStore: ...

    @property
    def wallets(self) -> WalletStore: ...

    @property
    def webhooks(self) -> WebhookOutboxStore: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def commit(self) -> None: ...
