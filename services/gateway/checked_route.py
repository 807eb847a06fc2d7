"""Every route checks, in this order, before FastAPI parses anything: the API key (401), the path and
query values (400), the body's size (413), its nesting and JSON (400). The fields' domains are then the
request schema's types (domain/inputs.py); fields a schema does not name are ignored, never stored.

Auth comes first so that nothing about a request's body is revealed, or even read, for a caller without
a key. The body is read within its limit (never a 10 GB buffer), its nesting is bounded on the raw bytes
before any parser recurses, and it is decoded by the same strict decoder as events: numbers exact
(Decimal, never a float that turns `1e400` into infinity), no NaN or Infinity.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from meterflow.domain.errors import FieldError
from meterflow.domain.events import decode_json
from meterflow.domain.json_values import text_fault
from services.gateway.authentication import api_key_grants, authenticated_mode
from services.gateway.context import context_of
from services.gateway.errors import ApiError, ErrorType

MAX_BODY_BYTES = 64 * 1024
MAX_PARAMETER_CHARS = 1_000


class CheckedRequest(Request):
    """A request whose body was read within its limit and decoded strictly, once."""

    checked_body: bytes = b""
    checked_json: Any = None

    async def body(self) -> bytes:
        return self.checked_body

    async def json(self) -> Any:
        return self.checked_json


def too_large(limit: int) -> ApiError:
    return ApiError(413, ErrorType.INVALID_REQUEST, f"The body exceeds {limit} bytes", "body")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(body: bytes, decode: Callable[[bytes], Any] = decode_json) -> Any:
    try:
        return decode(body)
    except (ValueError, RecursionError) as exc:
        raise FieldError("body", f"Malformed JSON body: {exc}") from None


def check_parameters(request: Request) -> None:
    """Path and query values are text like any other: no NUL (Postgres refuses it), bounded length,
    whatever the route then parses them as."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        fault = text_fault(value) if len(value) <= MAX_PARAMETER_CHARS else "is too long"
        if fault:
            raise FieldError(name, fault)


def checked_route(max_body_bytes: int = MAX_BODY_BYTES, decode: Callable[[bytes], Any] = decode_json) -> type[APIRoute]:
    """The route class of a router: `max_body_bytes` bounds its bodies, `decode` reads them (strict JSON;
    a body of independent items may cut what nests too deeply, for its item to be refused alone)."""

    class CheckedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            needs_key = any(d.call is authenticated_mode for d in self.dependant.dependencies)
            reads_body = self.body_field is not None

            async def checked(request: Request) -> Response:
                if needs_key:
                    await authenticated_mode(request, context_of(request), api_key_grants(request))
                check_parameters(request)
                checked_request = CheckedRequest(request.scope, request.receive)
                if reads_body:
                    checked_request.checked_body = await read_body(request, max_body_bytes)
                    if checked_request.checked_body:
                        checked_request.checked_json = decode_body(checked_request.checked_body, decode)
                return await handler(checked_request)

            return checked

    return CheckedRoute
