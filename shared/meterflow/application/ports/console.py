"""The ports of the ops console: its sessions, and the listings its pages read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from meterflow.domain.alerts import Alert
from meterflow.domain.api_keys import KeyScope
from meterflow.domain.close_failures import CloseFailure
from meterflow.domain.console_sessions import ConsoleSession
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import FailedAttempts, WebhookEndpoint


class KeyGrants(Protocol):
    async def key_grant(self, key_hash: str) -> tuple[Mode, KeyScope] | None: ...


class SessionStore(Protocol):
    """Sessions by the hash of their id, each forgotten by the store at its expiry."""

    async def keep(self, key: str, session: ConsoleSession, ttl: timedelta) -> None: ...

    async def find(self, key: str) -> ConsoleSession | None: ...

    async def forget(self, key: str) -> None: ...


class AlertListing(Protocol):
    async def alerts(self, mode: Mode, filters: dict[str, str | None], limit: int, offset: int) -> list[Alert]: ...


class CloseFailureListing(Protocol):
    async def listing(self, limit: int, mode: Mode | None = None) -> list[CloseFailure]: ...


class AttemptsLog(Protocol):
    async def failed_attempts(self, mode: Mode, since: datetime) -> list[FailedAttempts]: ...


class EndpointListing(Protocol):
    async def endpoints(self, mode: Mode, limit: int,
                        starting_after: str | None) -> tuple[list[WebhookEndpoint], bool]: ...
