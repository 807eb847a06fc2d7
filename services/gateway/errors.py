"""The API's closed set of errors and their one mapping to HTTP (api.md error shape, never a trace)."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
T = TypeVar("T")


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request_error"
    AUTHENTICATION = "authentication_error"
    NOT_FOUND = "not_found_error"
    CONFLICT = "conflict_error"
    RATE_LIMIT = "rate_limit_error"
    API = "api_error"


class ApiError(Exception):
    def __init__(self, status: int, error_type: ErrorType, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message, self.param = status, error_type, message, param


def invalid(message: str, param: str | None = None, status: int = 400) -> ApiError:
    return ApiError(status, ErrorType.INVALID_REQUEST, message, param)


def not_found(kind: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(404, ErrorType.NOT_FOUND, f"No such {kind}: {object_id!r}", param)


def found_or_404(value: T | None, kind: str, object_id: str, param: str = "id") -> T:
    if value is None:
        raise not_found(kind, object_id, param)
    return value


def conflict(message: str, param: str | None = None) -> ApiError:
    return ApiError(409, ErrorType.CONFLICT, message, param)


def unavailable(message: str) -> ApiError:
    return ApiError(503, ErrorType.API, message)


def error_response(status: int, error_type: ErrorType, message: str, param: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"type": error_type.value, "message": message}
    if param:
        body["param"] = param
    return JSONResponse({"error": body}, status_code=status)


def field_path(location: tuple[int | str, ...]) -> str:
    """`("body", "events", 3, "timestamp")` → `events[3].timestamp`."""
    path = ""
    for part in location:
        if part in ("body", "query", "path"):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_MESSAGES = {"json_invalid": "Malformed JSON body", "model_attributes_type": "The body must be a JSON object",
             "missing": "This field is required"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error_type, exc.message, exc.param)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        param = field_path(tuple(first.get("loc", ())))
        message = _MESSAGES.get(first.get("type", ""), first.get("msg", "invalid"))
        return error_response(400, ErrorType.INVALID_REQUEST, f"{param}: {message}" if param else message,
                              param or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = ErrorType.NOT_FOUND if exc.status_code == 404 else ErrorType.INVALID_REQUEST
        if exc.status_code >= 500:
            error_type = ErrorType.API
        return error_response(exc.status_code, error_type, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, ErrorType.API, "Internal error; it has been logged")
