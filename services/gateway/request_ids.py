"""Every request gets an id (the client's `X-Request-Id`, or a new one), echoed in the response, put on
each log line and written into the Kafka headers of the events it publishes; plus one access log line.
Every answer carries it, errors included: an unhandled error is answered here, not by the server."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from meterflow.logs import request_id
from services.gateway.errors import internal_error

log = logging.getLogger("meterflow.access")
HEADER = "X-Request-Id"


async def with_request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    given = request.headers.get(HEADER, "")
    token = request_id.set(given[:128] if given else uuid.uuid4().hex)
    started = time.perf_counter()
    try:
        try:
            response = await call_next(request)
        except Exception as exc:  # a bug: answered here, inside this middleware, so it carries the id too
            response = internal_error(exc)
        response.headers[HEADER] = request_id.get() or ""
        log.info("request", extra={"method": request.method, "path": request.url.path,
                                   "status": response.status_code,
                                   "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
        return response
    finally:
        request_id.reset(token)
