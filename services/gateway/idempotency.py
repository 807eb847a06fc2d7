"""`Idempotency-Key` on every POST, PUT and PATCH but ingest (docs/api.md; the rules: domain/idempotency.py).

Runs around the routes: the key's row is claimed in Postgres before the route executes, the answer (status
and body) is stored after it, and a retry gets that answer with `Idempotent-Replayed: true`. A 5xx is not
stored (the request was not carried out) and the key is released, so the retry executes. A request
without a valid API key passes through untouched, to be refused by the route (401). The body is read
here within the routes' limit (413 past it), never buffered whole whatever its size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from meterflow.adapters.idempotency_repository import IdempotencyRepository
from meterflow.domain.errors import Conflict
from meterflow.domain.idempotency import MAX_KEY_CHARS, Decision, decide, fingerprint, is_stored
from meterflow.domain.json_values import text_fault
from meterflow.domain.modes import Mode
from services.gateway.authentication import api_key_grants, authenticated_mode
from services.gateway.checked_route import MAX_BODY_BYTES, read_body
from services.gateway.context import GatewayContext
from services.gateway.errors import DEPENDENCY_ERRORS, ApiError, ErrorType, error_response, unavailable

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_METHODS = frozenset({"POST", "PUT", "PATCH"})
_EXEMPT = frozenset({"/v1/ingest"})  # events carry their own keys


def _refusal(message: str) -> Response:
    # Answered, not raised: this runs outside the routes, where the error handlers do not reach.
    return error_response(400, ErrorType.IDEMPOTENCY, message, HEADER)


async def _mode(request: Request, ctx: GatewayContext) -> Mode | None:
    try:
        return await authenticated_mode(request, ctx, api_key_grants(request))
    except ApiError:
        return None


async def with_idempotency(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    key = request.headers.get(HEADER)
    if key is None or request.method not in _METHODS or request.url.path in _EXEMPT:
        return await call_next(request)
    ctx: GatewayContext = request.app.state.context
    mode = await _mode(request, ctx)
    if mode is None:
        return await call_next(request)
    if not key or len(key) > MAX_KEY_CHARS or text_fault(key):
        return _refusal(f"{HEADER} must be 1 to {MAX_KEY_CHARS} characters of text")
    try:
        body = await read_body(request, MAX_BODY_BYTES)
    except ApiError as refusal:  # answered, not raised: the error handlers do not reach this far out
        return error_response(refusal.status, refusal.error_type, refusal.message, refusal.param)
    request._body = body  # Starlette's cache of a body read once: the route is handed these bytes again
    store = ctx.stores.idempotency
    try:
        claimed = await _claim(store, mode, key, fingerprint(request.method, request.url.path, request.url.query,
                                                             body), ctx)
    except DEPENDENCY_ERRORS as exc:
        return unavailable(exc)
    if claimed is not None:
        return claimed
    try:
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
    except BaseException:
        await store.release(mode, key)
        raise
    if is_stored(response.status_code):
        await store.store(mode, key, response.status_code, body)
    else:
        await store.release(mode, key)
    return Response(body, response.status_code, headers=dict(response.headers), media_type=response.media_type)


async def _claim(store: IdempotencyRepository, mode: Mode, key: str, request_fingerprint: str,
                 ctx: GatewayContext) -> Response | None:
    """None when this request holds the key and executes; otherwise the answer it gets instead."""
    now = ctx.clock.now()
    if await store.claim(mode, key, request_fingerprint, now):
        return None
    stored = await store.stored(mode, key)
    if stored is None:  # released between our insert and read: the first attempt failed; try once more
        return None if await store.claim(mode, key, request_fingerprint, now) else _in_flight()
    decision = decide(stored, request_fingerprint, now)
    if decision is Decision.EXECUTE:
        return None if await store.take_over(mode, key, stored, request_fingerprint, now) else _in_flight()
    if decision is Decision.MISMATCH:
        return _refusal(f"This {HEADER} was used for a different request; use a new key for a new request")
    if decision is Decision.IN_FLIGHT:
        return _in_flight()
    return Response(stored.body or b"", stored.status or 200, headers={REPLAYED: "true"},
                    media_type="application/json")


def _in_flight() -> Response:
    error = Conflict(f"A request with this {HEADER} is still being processed; retry it shortly", HEADER)
    return error_response(409, ErrorType.CONFLICT, error.message, HEADER)
