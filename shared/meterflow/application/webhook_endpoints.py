"""Webhook endpoints (docs/api.md, "Webhooks"): create with a secret shown once, read, update, delete.

The URL rules are the domain's (`parse_url`, `address_fault`); this module resolves the host (through
the `Resolver` port) for a live endpoint, so that a live API key cannot point meterflow at the operator's
own network. The check is made again at every delivery (application/webhook_delivery.py): DNS can change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from meterflow.application.ports.webhooks import EndpointStore, Resolver
from meterflow.clock import Clock
from meterflow.domain.errors import FieldError, NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import (
    EndpointStatus,
    WebhookEndpoint,
    address_fault,
    events_fault,
    new_secret,
    parse_url,
)


async def url_refusal(resolver: Resolver, mode: Mode, url: str, allow_private: bool) -> str | None:
    """Why `url` cannot receive this mode's events now, or None."""
    parts, fault = parse_url(url)
    if parts is None or parts.hostname is None:
        return fault
    if mode is Mode.TEST or allow_private:
        return None
    return address_fault(mode, await resolver.addresses(parts.hostname), allow_private)


@dataclass(frozen=True)
class WebhookEndpoints:
    store: EndpointStore
    resolver: Resolver
    clock: Clock
    allow_private: bool

    async def create(self, mode: Mode, url: str, events: Sequence[str], description: str | None) -> WebhookEndpoint:
        await self._check(mode, url, events)
        now = self.clock.now()
        endpoint = WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), mode, url, tuple(events), description,
                                   EndpointStatus.ENABLED, new_secret(), now, now)
        await self.store.add_endpoint(endpoint)
        return endpoint

    async def endpoint(self, mode: Mode, endpoint_id: str) -> WebhookEndpoint:
        found = await self.store.endpoint(mode, endpoint_id)
        if found is None:
            raise NotFound("webhook_endpoint", endpoint_id)
        return found

    async def update(self, mode: Mode, endpoint_id: str, changes: Mapping[str, Any]) -> WebhookEndpoint:
        """Only the fields given change (`url`, `events`, `description`, `status`)."""
        endpoint = await self.endpoint(mode, endpoint_id)
        url, events = changes.get("url", endpoint.url), changes.get("events", endpoint.events)
        await self._check(mode, url if "url" in changes else None, events if "events" in changes else None)
        status = EndpointStatus(changes["status"]) if "status" in changes else endpoint.status
        updated = replace(endpoint, url=url, events=tuple(events), status=status, updated_at=self.clock.now(),
                          description=changes.get("description", endpoint.description))
        await self.store.update_endpoint(updated)
        return updated

    async def delete(self, mode: Mode, endpoint_id: str) -> None:
        if not await self.store.delete_endpoint(mode, endpoint_id, self.clock.now()):
            raise NotFound("webhook_endpoint", endpoint_id)

    async def _check(self, mode: Mode, url: str | None, events: Sequence[str] | None) -> None:
        if events is not None and (fault := events_fault(events)) is not None:
            index, message = fault
            raise FieldError("events" if index is None else f"events[{index}]", message)
        if url is not None and (refusal := await url_refusal(self.resolver, mode, url, self.allow_private)):
            raise FieldError("url", refusal)
