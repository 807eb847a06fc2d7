"""Portal tokens (docs/portal.md): create one for a customer, list them, revoke one, and find whose
portal a presented token opens. The rules are the domain's (domain/portal_tokens.py); this use case holds
the clock, so "revoked or expired" is decided at the instant of each request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meterflow.application.ports.portal import PortalTokenStore
from meterflow.clock import Clock
from meterflow.domain.errors import NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.portal_tokens import IssuedToken, PortalToken, checked_expiry, hash_token, new_token, well_formed


@dataclass(frozen=True)
class PortalTokens:
    store: PortalTokenStore
    clock: Clock

    async def create(self, mode: Mode, customer: str, label: str, expires_at: datetime | None) -> IssuedToken:
        """`customer` is the customer's `external_id` (Monigo's key) or its id."""
        customer_id = await self._customer(mode, customer, "customer_external_id")
        now, token = self.clock.now(), new_token()
        record = PortalToken(new_id(IdKind.PORTAL_TOKEN), mode, customer_id, hash_token(token), label,
                             checked_expiry(expires_at, now), None, now, now)
        await self.store.add(record)
        return IssuedToken(record, token)

    async def tokens(self, mode: Mode, customer: str | None, limit: int,
                     starting_after: str | None) -> tuple[list[PortalToken], bool]:
        """The customer's tokens (every token of the mode when no customer is named), revoked ones too."""
        customer_id = None if customer is None else await self._customer(mode, customer, "customer_id")
        return await self.store.tokens(mode, customer_id, limit, starting_after)

    async def revoke(self, mode: Mode, token_id: str) -> PortalToken:
        """Revoking twice answers the token as first revoked."""
        revoked = await self.store.revoke(mode, token_id, self.clock.now())
        if revoked is None:
            raise NotFound("portal token", token_id)
        return revoked

    async def holder(self, token: str) -> PortalToken | None:
        """The token record if `token` opens a portal now; None for anything else (unknown, malformed,
        revoked, expired), which the portal answers alike so a guess learns nothing."""
        if not well_formed(token):
            return None
        found = await self.store.by_hash(hash_token(token))
        return found if found is not None and found.opens(self.clock.now()) else None

    async def _customer(self, mode: Mode, reference: str, param: str) -> str:
        found = await self.store.customer_id_of(mode, reference)
        if found is None:
            raise NotFound("customer", reference, param)
        return found
