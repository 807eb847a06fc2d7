"""Who is calling: the request's API key checked (401), rate-limited (429) and held to its scope (403), and the
mode every object the request reads or writes must belong to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Depends, Request

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.domain.api_keys import INGEST_PATH, KeyScope, allows, claimed_mode, hash_api_key
from meterflow.domain.modes import Mode
from services.gateway.context import GatewayContext, context
from services.gateway.errors import ApiError, ErrorType


@dataclass
class ApiKeyGrants:
    """Each key's mode and scope, remembered for `cache_s` at most: a key revoked meanwhile is refused by
    every gateway within that age, and the database is asked once per key per period."""

    catalog: CatalogRepository
    cache_s: float
    _known: dict[str, tuple[Mode, KeyScope, float]] = field(default_factory=dict)

    async def grant(self, key: str) -> tuple[Mode, KeyScope] | None:
        now = time.monotonic()
        cached = self._known.get(key)
        if cached and now - cached[2] < self.cache_s:
            return cached[0], cached[1]
        grant = await self.catalog.key_grant(hash_api_key(key)) if claimed_mode(key) else None
        if grant is None:
            self._known.pop(key, None)
            return None
        self._known[key] = (*grant, now)
        return grant


def api_key_grants(request: Request) -> ApiKeyGrants:
    grants: ApiKeyGrants = request.app.state.api_key_grants
    return grants


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, ErrorType.AUTHENTICATION, message, "Authorization")


async def authenticated_mode(request: Request, ctx: GatewayContext = Depends(context),
                             grants: ApiKeyGrants = Depends(api_key_grants)) -> Mode:
    """The mode of the request's API key; every object it reads or writes must belong to that mode. An
    ingest-scoped key may call only `POST /v1/ingest` (403 elsewhere)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthenticated("Missing API key: send 'Authorization: Bearer mk_test_…'")
    grant = await grants.grant(key.strip())
    if grant is None:
        raise _unauthenticated("Invalid API key")
    mode, scope = grant
    if not await ctx.rates.admit(hash_api_key(key.strip())[:16], ctx.clock.now()):
        raise ApiError(429, ErrorType.RATE_LIMIT, f"Too many requests with this API key: at most "
                       f"{ctx.rates.limit_per_s} a second; retry after the time in Retry-After", "Authorization")
    if not allows(scope, request.method, request.url.path):
        raise ApiError(403, ErrorType.PERMISSION, f"This key's scope ({scope}) allows only POST {INGEST_PATH}",
                       "Authorization")
    return mode
