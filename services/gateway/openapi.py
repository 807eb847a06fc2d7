"""The OpenAPI schema says what the API really answers: FastAPI documents 422 for a validation error,
meterflow answers 400, and every refusal below has the one error body of `errors.py`.

Which statuses an operation can answer follows from what it takes: every `/v1` call can be refused
(400 invalid input, 401 no or unknown key, 429 too many requests with one key, 503 a dependency away);
a call that names an object, pages, or takes a body naming ids can find nothing (404); a call that
changes state can conflict (409); a call with a body can send too much (413).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR = {
    "type": "object", "required": ["error", "type", "param", "details"], "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "the message (Monigo's clients read it)"},
        "type": {"type": "string"}, "param": {"type": ["string", "null"], "description": "the field at fault"},
        "details": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "field path → message; never empty on a 400"}}}
_REQUEST_ID = {"description": "the request's id (the client's, or a new one)", "schema": {"type": "string"}}
_DESCRIPTIONS = {400: "invalid input; `details` names every faulty field", 401: "no, unknown or revoked API key",
                 403: "the key's scope does not allow this call (an ingest key calls only POST /v1/ingest)",
                 404: "no such object in the key's mode", 409: "the state of the data forbids it",
                 413: "the body is too large",
                 429: "too many requests with this API key (MF_API_RATE_LIMIT_PER_S); retry after Retry-After",
                 503: "a dependency is unavailable; retry after Retry-After"}


def _error_response(status: int) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": _REQUEST_ID}
    if status in (429, 503):
        headers["Retry-After"] = {"description": "seconds", "schema": {"type": "integer"}}
    return {"description": _DESCRIPTIONS[status], "headers": headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    has_body = "requestBody" in operation
    names_objects = "{" in path or has_body or any(p.get("in") == "query" for p in operation.get("parameters", []))
    statuses = [400, 401, 403, 429, 503]
    statuses += [404] if names_objects and not path.endswith("/ingest") else []
    statuses += [409] if method in ("post", "put", "patch", "delete") and not path.endswith("/ingest") else []
    statuses += [413] if has_body else []
    return statuses


def install_openapi(app: FastAPI) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR
            for path, operations in document.get("paths", {}).items():
                for method, operation in operations.items():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    if path.startswith("/v1/"):
                        responses.update({str(s): _error_response(s) for s in _statuses(path, method, operation)})
            for unused in ("HTTPValidationError", "ValidationError"):
                document["components"]["schemas"].pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]
