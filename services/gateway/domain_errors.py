"""Domain error categories (meterflow.domain.errors) as API errors, for the routes that call use cases.

Kept apart so that the one mapping of categories to HTTP can move into errors.py's handlers whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from meterflow.domain.errors import ErrorCategory, MeterflowError
from services.gateway.errors import ApiError, ErrorType

_HTTP = {ErrorCategory.INVALID: (400, ErrorType.INVALID_REQUEST), ErrorCategory.NOT_FOUND: (404, ErrorType.NOT_FOUND),
         ErrorCategory.CONFLICT: (409, ErrorType.CONFLICT), ErrorCategory.UNAVAILABLE: (503, ErrorType.API)}


@contextmanager
def as_api_errors() -> Iterator[None]:
    try:
        yield
    except MeterflowError as exc:
        status, error_type = _HTTP[exc.category]
        raise ApiError(status, error_type, exc.message, exc.param) from None
