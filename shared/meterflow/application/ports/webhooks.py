"""The ports of webhook endpoints and of their deliveries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import (
    AttemptOutcome,
    Delivery,
    DueDelivery,
    WebhookEndpoint,
)


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   public_only: bool) -> tuple[int | None, str | None]:
        """(status code, None) when the receiver answered (the error says why a non-2xx failed, from the
        first bytes of its answer), (None, why) when it could not be reached in time. `public_only`: the
        connection may go only to a globally routable unicast address (domain/addresses.py), checked at
        connect time."""
        ...


class DeliveryStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease_until: datetime, token: str) -> list[DueDelivery]: ...

    async def record(self, outcomes: Sequence[AttemptOutcome], at: datetime) -> None: ...

    async def release(self, delivery_ids: Sequence[str], token: str) -> None: ...

    async def retry_now(self, mode: Mode, delivery_id: str, now: datetime) -> Delivery | None: ...


class Resolver(Protocol):
    async def addresses(self, host: str) -> list[str]:
        """The IP addresses `host` resolves to now; empty when it does not resolve."""
        ...


class EndpointStore(Protocol):
    async def add_endpoint(self, e: WebhookEndpoint) -> None: ...

    async def endpoint(self, mode: Mode, endpoint_id: str) -> WebhookEndpoint | None: ...

    async def update_endpoint(self, e: WebhookEndpoint) -> None: ...

    async def delete_endpoint(self, mode: Mode, endpoint_id: str, at: datetime) -> bool: ...
