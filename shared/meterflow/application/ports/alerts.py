"""The ports of alerts: their definitions (the API's), and the unit of work an evaluation round writes states and
webhook events in."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, Self

from meterflow.application.ports.unit_of_work import AlertStateStore, WebhookOutboxStore
from meterflow.domain.alerts import Alert, AlertScope
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


class AlertUnitOfWork(Protocol):
    @property
    def alerts(self) -> AlertStateStore: ...

    @property
    def webhooks(self) -> WebhookOutboxStore: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def commit(self) -> None: ...
