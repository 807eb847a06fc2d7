"""The closed set of failure categories every layer raises, and nothing else crosses a layer boundary.

Each category is mapped exactly once per consumer of errors:
- to an HTTP status in `services/gateway/errors.py` (INVALID 400, NOT_FOUND 404, CONFLICT 409,
  UNAVAILABLE 503 with Retry-After);
- to a stream action in the processor's failure policy (INVALID: dead-letter the record;
  UNAVAILABLE: retry with backoff, readiness down; anything uncategorised: isolate the record that
  causes it and dead-letter it, so it never blocks the records after it).
Adapters translate their library's exceptions into these (a unique violation is a Conflict, a refused
connection is Unavailable); use cases and domain rules raise them directly.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"


class MeterflowError(Exception):
    """Base of every categorised failure; `param` names the field at fault when there is one."""

    category: ErrorCategory = ErrorCategory.INVALID

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class FieldError(MeterflowError, ValueError):
    """Invalid input: `param` is the faulty field's path (`tiers[1].up_to`, `timestamp`); `message` says
    what is wrong."""

    category = ErrorCategory.INVALID
    param: str

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message, param)
        self.args = (f"{param}: {message}" if param else message,)


class FieldErrors(FieldError):
    """Several faulty fields at once (every event of a batch, every field of a body): `details` maps each
    field path to its message; `param` is the first of them."""

    def __init__(self, details: dict[str, str]) -> None:
        param, message = next(iter(details.items()))
        super().__init__(param, message)
        self.details = dict(details)


class NotFound(MeterflowError):
    category = ErrorCategory.NOT_FOUND

    def __init__(self, kind: str, object_id: str, param: str = "id") -> None:
        super().__init__(f"No such {kind}: {object_id!r}", param)
        self.kind, self.object_id = kind, object_id


class Conflict(MeterflowError):
    """The request is valid but the state of the data forbids it (a finalized invoice, a duplicate)."""

    category = ErrorCategory.CONFLICT


class Unavailable(MeterflowError):
    """A dependency (broker, Redis, Postgres) cannot be reached or did not answer in time: transient."""

    category = ErrorCategory.UNAVAILABLE
