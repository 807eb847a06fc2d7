"""The documented domain of every client input that is not a usage value (docs/input-domains.md).

Each rule exists because an input outside it once reached a server and broke it for everyone: a NUL
that Postgres refuses in `text` and `jsonb`, a lone surrogate that no UTF-8 encoder accepts, a year that
`datetime` cannot step past, a nesting that exhausts the parser's recursion, a `1e400` that a float
turns into infinity. Checking them here, at the edge, turns each into a 400 naming the field (or a dead
letter on the Kafka path) instead.

Functions return the reason an input is out of its domain, or None; the types below attach them to
pydantic fields so request schemas and events share one definition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler, StringConstraints, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from meterflow.domain.json_values import MAX_JSON_DEPTH, NO_NUL_PATTERN, JsonDomain, json_fault, text_fault
from meterflow.domain.money import is_known_currency
from meterflow.domain.quantities import decimal_places

MAX_ID_CHARS = 64
MAX_NAME_CHARS = 255
MAX_DESCRIPTION_CHARS = 1_000
MAX_EMAIL_CHARS = 320
MAX_EVENT_NAME_CHARS = 128  # docs/api.md, "Ingest"
MAX_KEY_CHARS = 255  # idempotency keys, docs/api.md
# Dates a billing system can step through in both directions: no period arithmetic leaves `datetime`.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_NUMBER_DIGITS = 40
MAX_NUMBER_DECIMAL_PLACES = 400
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_CHARS = 40
MAX_METADATA_DEPTH = 5
MAX_METADATA_STRING_CHARS = 500
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _checked_text(value: str) -> str:
    fault = text_fault(value)
    if fault:
        raise ValueError(fault)
    return value


class _PatternInSchema:
    """Tells schema readers (clients, fuzzers) what `text_fault` enforces (no NUL) and, for required
    text, that request bodies strip surrounding blanks, so a blank-only value is empty."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f"  # C0, DEL and C1, written for regular expressions
_BIDI_CONTROLS = "\\u202a-\\u202e\\u2066-\\u2069"  # LRE RLE PDF LRO RLO, LRI RLI FSI PDI
_NOT_IN_NAMES = re.compile(f"[{_CONTROLS}{_BIDI_CONTROLS}]")
# An address a mail can be sent to: one `@`, something before it, a domain of dotted labels after it
# (`a@b` is refused); no blank or control character anywhere.
_EMAIL_CHAR = f"[^@\\s{_CONTROLS}"
_EMAIL_PATTERN = f"^{_EMAIL_CHAR}]+@{_EMAIL_CHAR}.]+(\\.{_EMAIL_CHAR}.]+)+$"
_EMAIL = re.compile(_EMAIL_PATTERN)


def name_fault(value: str) -> str | None:
    """A name (of a customer, metric or plan, an external id) is shown on invoices, dashboards and logs:
    beyond being text, it holds no control character (a newline, an escape sequence) and no bidirectional
    embedding, override or isolate, which could make it display as another name ("Trojan Source")."""
    if _NOT_IN_NAMES.search(value):
        return "must not contain control or bidirectional-override characters"
    return text_fault(value)


def email_fault(value: str) -> str | None:
    if not _EMAIL.fullmatch(value):
        return "must be an email address with a dotted domain, such as billing@example.com"
    return text_fault(value)


def _checked_email(value: str) -> str:
    fault = email_fault(value)
    if fault:
        raise ValueError(fault)
    return value


def _checked_name(value: str) -> str:
    fault = name_fault(value)
    if fault:
        raise ValueError(fault)
    return value


_CLEAN, _NUL_FREE = AfterValidator(_checked_text), _PatternInSchema(NO_NUL_PATTERN)
_NOT_BLANK = _PatternInSchema("^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")
_NAME_CHARS = f"[^{_CONTROLS}{_BIDI_CONTROLS}]"
_NAME = _PatternInSchema(f"^{_NAME_CHARS}*[^\\s{_CONTROLS}{_BIDI_CONTROLS}]{_NAME_CHARS}*$")
IdText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), _CLEAN, _NOT_BLANK]
NameText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_checked_name),
                     _NAME]
DescriptionText = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS), _CLEAN, _NUL_FREE]
EmailText = Annotated[str, StringConstraints(max_length=MAX_EMAIL_CHARS), AfterValidator(_checked_email),
                      _PatternInSchema(_EMAIL_PATTERN)]
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all (`+2348012345678`).
PhoneText = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{1,14}$")]
EventNameText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT_NAME_CHARS), _CLEAN, _NOT_BLANK]
def _known_currency(code: str) -> str:
    if not is_known_currency(code.upper()):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code.upper()


CurrencyCode = Annotated[str, StringConstraints(pattern="^[A-Za-z]{3}$"), AfterValidator(_known_currency)]
KeyText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_CHARS), _CLEAN, _NOT_BLANK]


def date_fault(at: datetime) -> str | None:
    if at.tzinfo is None:
        return "must carry a UTC offset (RFC 3339)"
    # The year alone first: comparing a year-9999 time with an offset could overflow `datetime`.
    if not EARLIEST.year - 1 <= at.year <= LATEST.year or not EARLIEST <= at < LATEST:
        return f"must be from {EARLIEST.year} up to (not including) {LATEST.year}"
    return None


def _timestamp(value: object) -> datetime:
    """Only RFC 3339 text from clients: no epoch number, no date alone, no naive time; in UTC, within
    the date range. A datetime passes the format check: it never comes from JSON, only from our own
    code (the receipt time of an event without one)."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str) and _RFC3339.fullmatch(value):
        at = datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case `t` and `z`
    else:
        raise ValueError("must be an RFC 3339 timestamp such as 2026-02-25T10:00:00Z")
    fault = date_fault(at)
    if fault:
        raise ValueError(fault)
    return at.astimezone(UTC)


# Parsed here (C-fast `fromisoformat`) rather than by pydantic: it sits on the per-event hot path.
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


def json_number_fault(value: Decimal) -> str | None:
    """A number in a request body (metadata, prices) is kept exactly as sent: finite, and bounded so that
    every client reads it back and no later arithmetic leaves the decimal context."""
    if not value.is_finite():
        return "must be a finite number"
    if value.copy_abs() >= Decimal("1e18"):
        return "must be greater than -1e18 and less than 1e18"
    if decimal_places(value) > MAX_NUMBER_DECIMAL_PLACES or len(value.as_tuple().digits) > MAX_NUMBER_DIGITS:
        return f"must have at most {MAX_NUMBER_DIGITS} digits and {MAX_NUMBER_DECIMAL_PLACES} decimal places"
    return None


def metadata_fault(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """Where metadata leaves its domain (`METADATA`, at most `MAX_METADATA_KEYS` keys), or None."""
    fault = json_fault(metadata, METADATA)
    if fault:
        return fault
    if len(metadata) > MAX_METADATA_KEYS:
        return "", f"holds at most {MAX_METADATA_KEYS} keys"
    return None


# Metadata: the client's own annotations, bounded so that storing and listing them stays cheap.
METADATA = JsonDomain(MAX_METADATA_DEPTH, json_number_fault, MAX_METADATA_STRING_CHARS, MAX_METADATA_KEY_CHARS)
# A free-form object of a request (a price): numbers kept exactly and bounded, text clean, nesting bounded.
FREE_FORM = JsonDomain(MAX_JSON_DEPTH, json_number_fault)


def _raise(fault: tuple[str, str] | None) -> None:
    if fault:
        raise ValueError(f"{fault[0]}: {fault[1]}" if fault[0] else fault[1])


def _checked_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    _raise(metadata_fault(metadata))
    return metadata


def _checked_free_form(value: dict[str, Any]) -> dict[str, Any]:
    _raise(json_fault(value, FREE_FORM))
    return value


FreeFormObject = Annotated[dict[str, Any], AfterValidator(_checked_free_form)]


def _metadata_value_schema(levels: int) -> dict[str, Any]:
    """What `metadata_fault` accepts, for schema readers: scalars, and containers `levels` deep."""
    scalars: list[dict[str, Any]] = [
        {"type": "string", "maxLength": MAX_METADATA_STRING_CHARS, "pattern": NO_NUL_PATTERN},
        {"type": "number", "exclusiveMinimum": -10**18, "exclusiveMaximum": 10**18},
        {"type": "boolean"}, {"type": "null"}]
    if levels < 1:
        return {"anyOf": scalars}
    inner = _metadata_value_schema(levels - 1)
    return {"anyOf": [*scalars, {"type": "array", "items": inner},
                      {"type": "object", "additionalProperties": inner,
                       "propertyNames": {"maxLength": MAX_METADATA_KEY_CHARS, "pattern": NO_NUL_PATTERN}}]}


Metadata = Annotated[dict[str, Any], AfterValidator(_checked_metadata), WithJsonSchema({
    "type": "object", "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"maxLength": MAX_METADATA_KEY_CHARS, "pattern": NO_NUL_PATTERN},
    "additionalProperties": _metadata_value_schema(MAX_METADATA_DEPTH - 1)})]




# Text a client may leave empty (Monigo's Go client sends `""` for a field it was not given): bounded
# like a name, clean like any text.
OptionalText = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS), _CLEAN, _NUL_FREE]
