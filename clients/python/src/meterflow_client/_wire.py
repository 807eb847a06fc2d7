"""JSON both ways without a binary float: money and quantities are exact on the wire and stay exact here.

Answers are decoded with every JSON number that has a fraction or exponent read as a `Decimal` (usage's
`value` is a JSON number with as many digits as the figure has). Bodies are encoded with `Decimal` written
as a decimal string, the form the API documents for money and accepts for numeric event properties, and
datetimes as RFC 3339 in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def decode(content: bytes) -> Any:
    return json.loads(content, parse_float=Decimal) if content else None


def _exact(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return timestamp(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(body: object) -> bytes:
    return json.dumps(body, default=_exact, separators=(",", ":"), allow_nan=False).encode()


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC; a naive datetime is refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (e.g. datetime.now(UTC))")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def given(**fields: object) -> dict[str, Any]:
    """The fields the caller set: None means "not given" (the API never clears a field with null)."""
    return {name: value for name, value in fields.items() if value is not None}


def query(**fields: object) -> dict[str, str]:
    """Query parameters as text: datetimes in RFC 3339, numbers with their digits, None left out."""
    return {name: _text(value) for name, value in fields.items() if value is not None}


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def renamed(fields: Mapping[str, Any], **names: str) -> dict[str, Any]:
    """`from` is a Python keyword: parameters spelled `start` go on the wire under their API name."""
    return {names.get(name, name): value for name, value in fields.items()}
