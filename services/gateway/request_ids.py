"""Every request gets an id (the client's `X-Request-Id`, or a new one), echoed in the response, put on
each log line and written into the Kafka headers of the events it publishes; plus one access log line
and the count of answers by status class. Every answer carries it, errors included: an unhandled error
is answered here, not by the server. A client that leaves before its request is read gets no answer,
and is logged and counted as exactly that, never as an error of ours (a 500 nobody received)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from starlette.requests import ClientDisconnect

from meterflow.logs import request_id
from meterflow.observability import HTTP_CLIENT_DISCONNECTS, HTTP_RESPONSES
from services.gateway.errors import internal_error

log = logging.getLogger("meterflow.access")
HEADER = "X-Request-Id"
# What is handed back when the client is gone: never sent (the server drops it), never logged or counted.
CLIENT_CLOSED_REQUEST = 499


async def with_request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    given = request.headers.get(HEADER, "")
    token = request_id.set(given[:128] if given else uuid.uuid4().hex)
    started = time.perf_counter()
    try:
        try:
            response = await call_next(request)
        except ClientDisconnect:
            # The client closed the connection before its request was read (or the body deadline cut it
            # off, server.py): no error of ours, and no answer to give, so no status to log or count.
            HTTP_CLIENT_DISCONNECTS.inc()
            log.info("client disconnected before its request was read",
                     extra={"method": request.method, "path": request.url.path, "duration_ms": _since(started)})
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except Exception as exc:  # a bug: answered here, inside this middleware, so it carries the id too
            response = internal_error(exc)
        response.headers[HEADER] = request_id.get() or ""
        HTTP_RESPONSES.labels(f"{response.status_code // 100}xx").inc()
        log.info("request", extra={"method": request.method, "path": request.url.path,
                                   "status": response.status_code, "duration_ms": _since(started)})
        return response
    finally:
        request_id.reset(token)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
