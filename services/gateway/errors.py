"""The one mapping from failures to HTTP answers (docs/api.md, "Errors", never a trace).

The body is Monigo's (docs/monigo.md) with meterflow's additions: `{"error": "<message>", "type",
"param", "details": {"<field path>": "<message>"}}`. `error` is a string because Monigo's clients read it
as one; a 400 always carries a non-empty `details` naming every faulty field, because that is what their
`IsValidationError` helper tests.

Routes and use cases raise the categories of `meterflow.domain.errors`; this module alone decides their
status: INVALID 400, NOT_FOUND 404, CONFLICT 409, UNAVAILABLE 503 with Retry-After. The only errors
defined here are those that exist only in HTTP (no or unknown key 401, scope 403, body too large 413,
too many requests for a key 429 with Retry-After). A
dependency's library error (a refused connection, a timeout) is UNAVAILABLE too, so a database or broker
that is away answers 503 and the client retries, never a 500.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TypeVar

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from meterflow.adapters.failures import TRANSIENT
from meterflow.domain.errors import Conflict, ErrorCategory, FieldErrors, MeterflowError, NotFound
from meterflow.domain.json_values import printable

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_S = 1


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request_error"
    AUTHENTICATION = "authentication_error"
    PERMISSION = "permission_error"
    NOT_FOUND = "not_found_error"
    CONFLICT = "conflict_error"
    IDEMPOTENCY = "idempotency_error"
    RATE_LIMIT = "rate_limit_error"
    API = "api_error"


class ApiError(Exception):
    """A refusal that exists only in HTTP (401, 403, 413, 429); every other refusal is a domain category."""

    def __init__(self, status: int, error_type: ErrorType, message: str, param: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message, self.param = status, error_type, message, param


_CATEGORIES: dict[ErrorCategory, tuple[int, ErrorType]] = {
    ErrorCategory.INVALID: (400, ErrorType.INVALID_REQUEST),
    ErrorCategory.NOT_FOUND: (404, ErrorType.NOT_FOUND),
    ErrorCategory.CONFLICT: (409, ErrorType.CONFLICT),
    ErrorCategory.UNAVAILABLE: (503, ErrorType.API),
}
# What the client libraries raise when their server is away or slow: transient, so 503. The one list of
# them is the adapters' (`adapters/failures.py`); any broker refusal is a 503 here too.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT, KafkaError)


def http_status(error: MeterflowError) -> int:
    """The status of a category, for answers that are pages rather than JSON (the console)."""
    return _CATEGORIES[error.category][0]


def found_or_404(value: T | None, kind: str, object_id: str, param: str = "id") -> T:
    if value is None:
        raise NotFound(kind, object_id, param)
    return value


def conflict(message: str, param: str = "id") -> Conflict:
    return Conflict(message, param)


def error_response(status: int, error_type: ErrorType, message: str, param: str | None,
                   details: dict[str, str] | None = None) -> JSONResponse:
    """The one error body. A 400 without details would match no Monigo helper, so it names `param`
    (or the body) at least."""
    if status == 400 and not details:
        details = {param or "body": message}
    body = {"error": message, "type": error_type.value, "param": param, "details": details or {}}
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status in (429, 503) else None
    return JSONResponse(body, status_code=status, headers=headers)


def internal_error(exc: BaseException) -> JSONResponse:
    """The answer to a bug: logged with its trace, answered without it."""
    log.error("unhandled error", exc_info=exc)
    return error_response(500, ErrorType.API, "Internal error; it has been logged", None)


def field_path(location: tuple[int | str, ...]) -> str:
    """`("body", "events", 3, "timestamp")` → `events[3].timestamp`; the whole body is `body`."""
    path = ""
    for part in location[1:] if location and location[0] in ("body", "query", "path", "header") else location:
        if part == "[key]":  # pydantic's marker for "this key itself", which the path already names
            continue
        text = printable(str(part))
        path += f"[{part}]" if isinstance(part, int) else (f".{text}" if path else text)
    return path or "body"


_MESSAGES = {"json_invalid": "Malformed JSON body", "model_attributes_type": "The body must be a JSON object",
             "missing": "This field is required"}


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    """The methods of the first path template that matches `path`, the one the router dispatches on
    (the routers `app` includes are read through); the same template may serve several routes."""
    routes = [(r.path, r.methods) for r in app.routes if isinstance(r, APIRoute | Route)]
    for included in app.routes:
        routes += [(e.path, e.methods) for e in getattr(included, "effective_route_contexts", list)()]
    template = next((t for t, _ in routes if compile_path(t)[0].match(path)), None)
    allowed = {method for t, methods in routes if t == template for method in methods or ()}
    return allowed | {"HEAD"} if "GET" in allowed else allowed  # head_requests.py answers HEAD as GET


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error_type, exc.message, exc.param)

    @app.exception_handler(MeterflowError)
    async def _categorised(_: Request, exc: MeterflowError) -> JSONResponse:
        status, error_type = _CATEGORIES[exc.category]
        if isinstance(exc, FieldErrors):
            count = len(exc.details)
            message = f"{count} invalid field{'s' if count > 1 else ''}; see details"
            return error_response(status, error_type, message, exc.param, exc.details)
        message = f"{exc.param}: {exc.message}" if exc.param and status == 400 else exc.message
        details = {exc.param or "body": exc.message} if status == 400 else None
        return error_response(status, error_type, message, exc.param, details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details: dict[str, str] = {}
        for error in exc.errors():
            path = field_path(tuple(error.get("loc", ())))
            details.setdefault(path, _MESSAGES.get(error.get("type", ""), error.get("msg", "invalid")))
        param, message = next(iter(details.items()))
        return error_response(400, ErrorType.INVALID_REQUEST, f"{param}: {message}", param, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = ErrorType.NOT_FOUND if exc.status_code == 404 else ErrorType.INVALID_REQUEST
        param = "method" if exc.status_code == 405 else "path"
        response = error_response(exc.status_code, error_type, str(exc.detail), param)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # the router names only its first matching route's methods
            response.headers["Allow"] = ", ".join(sorted(allowed_methods(app, request.url.path)))
        return response

    for dependency_error in DEPENDENCY_ERRORS:
        @app.exception_handler(dependency_error)
        async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
            return unavailable(exc)


def unavailable(exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable: %s", type(exc).__name__)
    return error_response(503, ErrorType.API, f"A dependency is unavailable ({type(exc).__name__}); retry later",
                          None)
