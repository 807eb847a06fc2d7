"""Usage events: the one validation both ingest paths (HTTP and direct Kafka) apply.

JSON is read and written with `simplejson(use_decimal=True)` so that numbers keep their exact text
end to end: `12.50` stays `Decimal("12.50")`, never a float, and the processor sees the bytes the
producer meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import simplejson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from meterflow.domain.errors import FieldError

MAX_PROPERTIES_BYTES = 8 * 1024


class EventRejected(FieldError):
    """One event that must not be counted, with the field at fault and why."""


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_name: str = Field(min_length=1, max_length=128)
    customer_id: str = Field(min_length=1, max_length=64)
    idempotency_key: str = Field(min_length=1, max_length=255)
    timestamp: Annotated[AwareDatetime, AfterValidator(lambda at: at.astimezone(UTC))]
    properties: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class AcceptancePolicy:
    """Which timestamps are accepted: not older than the dedupe window W, not too far in the future.

    Accepting only events younger than W is what lets dedupe forget a key after W (billing.md §1).
    """

    window: timedelta
    future_tolerance: timedelta

    def check(self, timestamp: datetime, received_at: datetime) -> None:
        if timestamp > received_at + self.future_tolerance:
            raise EventRejected("timestamp", f"is more than {self.future_tolerance} in the future")
        if timestamp < received_at - self.window:
            raise EventRejected("timestamp", f"is older than the dedupe window ({self.window}); "
                                "back-fill older usage with an ops back-fill instead")


def _encode_default(value: object) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# Built once: simplejson's loads/dumps build a new codec on every call when given options.
_DECODER = simplejson.JSONDecoder(parse_float=Decimal)
_ENCODER = simplejson.JSONEncoder(use_decimal=True, separators=(",", ":"), default=_encode_default)


def decode_json(raw: bytes | str) -> Any:
    return _DECODER.decode(raw.decode() if isinstance(raw, bytes) else raw)


def encode_json(value: Any) -> bytes:
    text: str = _ENCODER.encode(value)
    return text.encode()


def format_timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_event(raw: object, received_at: datetime, policy: AcceptancePolicy, size_hint: int | None = None) -> Event:
    """Validate one event; a missing timestamp means "when it was received".

    `size_hint`, the size of the event's whole JSON when known, spares re-encoding the properties to
    check their size when the whole event is already small enough.
    """
    if not isinstance(raw, dict):
        raise EventRejected("", "an event must be a JSON object")
    if raw.get("timestamp") is None:
        raw = {**raw, "timestamp": received_at}
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise EventRejected(param, first["msg"]) from None
    small = size_hint is not None and size_hint <= MAX_PROPERTIES_BYTES
    if not small and len(encode_json(event.properties)) > MAX_PROPERTIES_BYTES:
        raise EventRejected("properties", f"exceeds {MAX_PROPERTIES_BYTES} bytes of JSON")
    policy.check(event.timestamp, received_at)
    return event


def event_to_json(event: Event) -> bytes:
    return encode_json({"event_name": event.event_name, "customer_id": event.customer_id,
                        "idempotency_key": event.idempotency_key, "timestamp": event.timestamp,
                        "properties": event.properties})


def numeric_property(event: Event, name: str) -> Decimal | None:
    """A property read as an exact Decimal: JSON numbers or numeric strings; anything else is None."""
    value = event.properties.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            return None
    else:
        return None
    return number if number.is_finite() else None


def property_text(event: Event, name: str) -> str | None:
    """The property's JSON text, the identity `unique` counts by (`"1"` and `1` differ)."""
    if name not in event.properties:
        return None
    return encode_json(event.properties[name]).decode()
