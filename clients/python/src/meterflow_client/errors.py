"""The closed set of failures the client raises, one class per error `type` the API answers.

Every refusal of the API has one body, `{"error", "type", "param", "details"}`; it becomes the class named
by its `type`, carrying `param` (the field at fault) and `details` (field path → message, never empty on
a 400). An answer without that body (a proxy's 502 page) is classed by its status instead. A request
that got no answer at all is an `APIConnectionError` (or its `APITimeoutError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


class MeterflowError(Exception):
    """Base of everything this package raises."""


class APIConnectionError(MeterflowError):
    """No answer: the connection failed or dropped. Safe to retry (the client already did)."""


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class APIStatusError(MeterflowError):
    """The API answered with a refusal."""

    def __init__(self, message: str, *, status_code: int, type: str, param: str | None,
                 details: Mapping[str, str], request_id: str | None, retry_after: str | None) -> None:
        super().__init__(f"{status_code} {type}: {message}")
        self.message, self.status_code, self.type = message, status_code, type
        self.param, self.details = param, dict(details)
        self.request_id, self.retry_after = request_id, retry_after


class InvalidRequestError(APIStatusError):
    """400 (and 413): `details` names every faulty field."""


class IdempotencyError(InvalidRequestError):
    """400: the Idempotency-Key was used for a different request."""


class AuthenticationError(APIStatusError):
    """401: no, unknown or revoked API key."""


class PermissionDeniedError(APIStatusError):
    """403: the key's scope does not allow this call."""


class NotFoundError(APIStatusError):
    """404: no such object in the key's mode."""


class ConflictError(APIStatusError):
    """409: the state of the data forbids it (a finalized invoice, a duplicate external_id)."""


class RateLimitError(APIStatusError):
    """429: too many requests with this key."""


class APIError(APIStatusError):
    """5xx: a dependency of the API is unavailable (503) or the API failed (500)."""


_BY_TYPE: dict[str, type[APIStatusError]] = {
    "invalid_request_error": InvalidRequestError,
    "idempotency_error": IdempotencyError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "conflict_error": ConflictError,
    "rate_limit_error": RateLimitError,
    "api_error": APIError,
}
_BY_STATUS: dict[int, type[APIStatusError]] = {400: InvalidRequestError, 401: AuthenticationError,
                                               403: PermissionDeniedError, 404: NotFoundError,
                                               409: ConflictError, 413: InvalidRequestError, 429: RateLimitError}
ERROR_TYPES = frozenset(_BY_TYPE)


def error_body(response: httpx.Response, decoded: Any) -> dict[str, Any]:
    """The API's error body, or one made from the status when the answer has none."""
    if isinstance(decoded, dict) and isinstance(decoded.get("type"), str) and "error" in decoded:
        return decoded
    return {"error": response.reason_phrase or f"HTTP {response.status_code}", "type": "", "param": None,
            "details": {}}


def status_error(response: httpx.Response, decoded: Any) -> APIStatusError:
    body = error_body(response, decoded)
    kind = _BY_TYPE.get(body["type"]) or _BY_STATUS.get(response.status_code, APIError)
    details = body.get("details")
    return kind(str(body["error"]), status_code=response.status_code, type=body["type"] or "api_error",
                param=body.get("param"), details=details if isinstance(details, dict) else {},
                request_id=response.headers.get("x-request-id"), retry_after=response.headers.get("retry-after"))
