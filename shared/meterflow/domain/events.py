"""Usage events: the one validation both ingest paths (HTTP and direct Kafka) apply.

JSON is read and written with `simplejson(use_decimal=True)` so that numbers keep their exact text
end to end: `12.50` stays `Decimal("12.50")`, never a float, and the processor sees the bytes the
producer meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec
import simplejson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meterflow.domain.errors import FieldError
from meterflow.domain.inputs import EventNameText, IdText, KeyText, Timestamp
from meterflow.domain.json_values import (
    MAX_JSON_DEPTH,
    JsonDomain,
    cut_deep,
    is_plain_number,
    joined_param,
    json_fault,
    nesting_depth,
)
from meterflow.domain.quantities import MAX_VALUE_DECIMAL_PLACES, MAX_VALUE_INTEGER_DIGITS, value_fault

MAX_PROPERTIES_BYTES = 8 * 1024
# A numeric string (billing.md's "12.5"): an optional sign, ASCII digits, an optional fraction and exponent.
# Nothing else is a number, whatever `Decimal` would read: `"1_000"`, `" 12 "` and Arabic-Indic `"١٢"` are text.
NUMERIC_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Go's zero time.Time as its encoder writes it (any zero offset, any zero fraction).
# A numeric text this short without an exponent has at most 18 digits, so it is less than 1e18 in
# magnitude with at most 18 decimal places: inside the value domain (domain/quantities.py) by its length.
PLAIN_TEXT_CHARS = min(MAX_VALUE_INTEGER_DIGITS, MAX_VALUE_DECIMAL_PLACES)
_NUMBERS = (int, Decimal)
ZERO_TIME = re.compile(r"0001-01-01T00:00:00(\.0+)?(Z|[+-]00:00)")
# Levels of objects and arrays inside `properties`: metrics read only the top level; a little nesting
# is kept for context (`{"request": {"path": ...}}`), never enough to exhaust a parser's stack.
PROPERTIES = JsonDomain(depth=8, number_rule=value_fault)


class EventRejected(FieldError):
    """One event that must not be counted, with the field at fault and why."""


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_name: EventNameText
    customer_id: IdText
    idempotency_key: KeyText
    timestamp: Timestamp
    properties: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class AcceptancePolicy:
    """Which timestamps are accepted: not older than the dedupe window W, not too far in the future.

    Accepting only events younger than W is what lets dedupe forget a key after W (docs/billing.md, "Deduplication").
    """

    window: timedelta
    future_tolerance: timedelta

    def check(self, timestamp: datetime, received_at: datetime) -> None:
        if timestamp > received_at + self.future_tolerance:
            raise EventRejected("timestamp", f"is more than {self.future_tolerance} in the future")
        if timestamp < received_at - self.window:
            raise EventRejected("timestamp", f"is older than the dedupe window ({self.window}); "
                                "back-fill older usage with an ops back-fill instead")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _encode_default(value: object) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# Built once: simplejson's loads/dumps build a new codec on every call when given options.
_DECODER = simplejson.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
_READER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = simplejson.JSONEncoder(use_decimal=True, separators=(",", ":"), default=_encode_default)


def decode_json(raw: bytes | str) -> Any:
    """Strict JSON: numbers exact (Decimal), no NaN or Infinity, invalid UTF-8 refused, and nesting
    bounded before the parser recurses. Every fault is a ValueError.

    msgspec reads it first, in one C pass about 5x faster than simplejson (reading records is the bulk
    of the processor's own work): each fraction or exponent is made a Decimal from its own text, as
    simplejson's `parse_float` does, so its value is simplejson's. What msgspec refuses (a lone
    surrogate escape, a byte-order mark, anything not JSON) is read again by simplejson, whose value or
    error (with its message) is the answer, exactly as before."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if _too_deep(data):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return _read_exact(raw)


def _read_exact(raw: bytes | str) -> Any:
    """msgspec's value, or simplejson's value or error where msgspec refuses (`decode_json`)."""
    try:
        return _READER.decode(raw)
    except (msgspec.DecodeError, ValueError):
        return _DECODER.decode(raw.decode() if isinstance(raw, bytes) else raw)


def _too_deep(data: bytes) -> bool:
    """Counting brackets is C-fast; only a text with more of them than the bound needs the real scan."""
    return data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and nesting_depth(data) > MAX_JSON_DEPTH


# The most strings and brackets a body nested too deeply may hold for `decode_json_cutting_deep` to split
# it (each costs a step in Python, on the gateway's event loop): a larger one is refused whole.
MAX_TOKENS_TO_CUT = 100_000


def decode_json_cutting_deep(raw: bytes) -> Any:
    """`decode_json` for a body of many independent values (an ingest batch): an array or object nested
    deeper than `MAX_JSON_DEPTH` is read as null instead of refusing the whole body, so the one value
    holding it is refused by its own rules (an event's properties nest at most 8 levels) and the others
    are read. What is cut is still checked to be JSON: a body that is not, or that holds more than
    `MAX_TOKENS_TO_CUT` strings and brackets, is refused whole."""
    if not _too_deep(raw):  # scanned once: the body is then decoded as it is
        return _read_exact(raw)
    if raw.count(b"[") + raw.count(b"{") + raw.count(b'"') // 2 > MAX_TOKENS_TO_CUT:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels, and too large to keep the rest")
    shallow, deep = cut_deep(raw, MAX_JSON_DEPTH)
    value = decode_json(shallow)
    _DECODER.decode((b"[" + b",".join(deep) + b"]").decode())  # each nests at most MAX_JSON_DEPTH levels
    return value


def encode_json(value: Any) -> bytes:
    text: str = _ENCODER.encode(value)
    return text.encode()


@lru_cache(maxsize=4_096)  # the events of a batch mostly share one time (received, or sent together)
def format_timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _means_received_time(timestamp: object) -> bool:
    """Absent, null, or the zero time Monigo's Go client sends when none is set (`0001-01-01T00:00:00Z`)."""
    return timestamp is None or (isinstance(timestamp, str) and ZERO_TIME.fullmatch(timestamp) is not None)


# Decimals written with their own digits (`str`), as simplejson(use_decimal) writes them.
_WRITER = msgspec.json.Encoder(decimal_format="number")
# Bytes as ints: `127 in text` is a plain memchr, `b"\x7f" in text` ten times slower.
_DEL, _N, _I = 0x7F, ord("N"), ord("I")


def _simplejson_would_differ(text: bytes) -> bool:
    """msgspec's text holds what simplejson writes otherwise: a character past ASCII (simplejson escapes
    it), DEL (simplejson writes `\\u007f`), or a non-finite Decimal (`NaN`, `Infinity`: simplejson
    refuses it). The single-byte looks go first, being far cheaper than a substring search."""
    return (not text.isascii() or _DEL in text or (_N in text and b"NaN" in text)
            or (_I in text and b"Infinity" in text))


def encode_json_fast(value: Any) -> bytes:
    """The bytes `encode_json` writes for a JSON value as `decode_json` reads it (text, int, Decimal, bool,
    null, lists, objects; never a float), ~8x faster on the ingest path: msgspec's when its text is
    certainly the same (`_simplejson_would_differ`), else simplejson's, or simplejson's error for what it
    refuses. The bytes matter: a `unique` value is its JSON text. orjson, used before, cost the gateway
    ~2 µs a call whatever the value's size; msgspec ~0.2 µs for an event's properties."""
    try:
        text = _WRITER.encode(value)
    except (TypeError, ValueError):  # a lone surrogate, a key that is not text or a number: simplejson decides
        return encode_json(value)
    return encode_json(value) if _simplejson_would_differ(text) else text


def parse_event(raw: object, received_at: datetime, policy: AcceptancePolicy, size_hint: int | None = None) -> Event:
    """Validate one event; a missing, null or zero timestamp means "when it was received", and null
    properties mean none (`{}`), as Monigo's clients send them.

    `size_hint`, the size of the event's whole JSON when known, spares re-encoding the properties to
    check their size when the whole event is already small enough.
    """
    if not isinstance(raw, dict):
        raise EventRejected("", "an event must be a JSON object")
    if _means_received_time(raw.get("timestamp")):
        raw = {**raw, "timestamp": received_at}
    if "properties" in raw and raw["properties"] is None:
        raw = {**raw, "properties": {}}
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise EventRejected(param, first["msg"]) from None
    small = size_hint is not None and size_hint <= MAX_PROPERTIES_BYTES
    if not small and len(encode_json_fast(event.properties)) > MAX_PROPERTIES_BYTES:
        raise EventRejected("properties", f"exceeds {MAX_PROPERTIES_BYTES} bytes of JSON")
    # Every number a metric could add is one the processor can add exactly (domain/quantities.py).
    fault = json_fault(event.properties, PROPERTIES)
    if fault:
        raise EventRejected(joined_param("properties", fault[0]), fault[1])
    policy.check(event.timestamp, received_at)
    return event


def event_to_json(event: Event) -> bytes:
    return encode_json_fast({"event_name": event.event_name, "customer_id": event.customer_id,
                             "idempotency_key": event.idempotency_key,
                             "timestamp": format_timestamp(event.timestamp), "properties": event.properties})


def numeric_property(event: Event, name: str) -> Decimal | None:
    """A property read as an exact Decimal: JSON numbers, or numeric strings (`NUMERIC_TEXT`), within the
    value domain; anything else is None (text, unbillable). One rule for both ingest paths: the processor
    reads every event through it, whether it came over HTTP or straight from Kafka."""
    value = event.properties.get(name)
    if isinstance(value, str):
        if not NUMERIC_TEXT.fullmatch(value):
            return None
        if len(value) <= PLAIN_TEXT_CHARS and "e" not in value and "E" not in value:
            return Decimal(value)  # at most 18 digits: inside the domain, no closer look needed
        try:
            number = Decimal(value)
        except ArithmeticError:  # an exponent beyond what Decimal holds (`1e99999999999999999999`)
            return None
    elif isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return None
    elif is_plain_number(value):
        return Decimal(value)
    else:
        number = Decimal(value)
    # A numeric string outside the value domain is text, not a quantity: unbillable, never a crash.
    return number if value_fault(number) is None else None


def property_text(event: Event, name: str) -> str | None:
    """The property's JSON text, the identity `unique` counts by (`"1"` and `1` differ)."""
    if name not in event.properties:
        return None
    return encode_json(event.properties[name]).decode()
