"""`/v1/portal/tokens`: links that open a customer's read-only portal (usage, invoices, wallets) with no
account and no API key. The token and its `portal_url` are in the answer to `create` only: the server
keeps a hash, so a listing shows them empty. Revoke a token and its link answers 401 from then on; a
token past its `expires_at` is refused the same way."""

from __future__ import annotations

from datetime import datetime

from meterflow_client._models import APIObject
from meterflow_client._operations import Call, Resource, S, one, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import given, query


class PortalToken(APIObject):
    id: str
    org_id: str
    customer_id: str
    token: str  # empty except in the answer to create
    label: str
    expires_at: datetime | None
    revoked_at: datetime | None
    portal_url: str  # empty except in the answer to create
    created_at: datetime
    updated_at: datetime


class RevokedPortalToken(APIObject):
    message: str
    token: PortalToken


class PortalTokens(Resource[S]):
    @operation("POST", "/v1/portal/tokens")
    def create(*, customer_external_id: str, label: str | None = None, expires_at: datetime | None = None,
               idempotency_key: str | None = None) -> Call[PortalToken]:
        """A new link for the customer (its external id, or its id); keep `portal_url`, it is shown once."""
        body = given(customer_external_id=customer_external_id, label=label, expires_at=expires_at)
        return Call(one("token", PortalToken), body=body, idempotency_key=idempotency_key)

    @paged("/v1/portal/tokens", "tokens")
    def list(*, customer_id: str | None = None, limit: int | None = None) -> Cursor[PortalToken]:
        """The customer's tokens (id or external id), revoked ones too; every token when none is named."""
        return Cursor(PortalToken, query(customer_id=customer_id, limit=limit))

    @operation("DELETE", "/v1/portal/tokens/{token_id}")
    def revoke(token_id: str) -> Call[RevokedPortalToken]:
        return Call(whole(RevokedPortalToken), path={"token_id": token_id})
