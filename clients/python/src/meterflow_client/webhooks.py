"""Checking that a webhook came from meterflow (or Monigo), and is not an old one sent again.

Each delivery is signed over the exact bytes of its body with the endpoint's secret, twice:
`Meterflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`, which signs its time,
and `X-Monigo-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, which Monigo's receivers check. `verify`
checks the timestamped one when present, else the Monigo one; either way the message must be younger
than `tolerance` seconds (the signed `t`, or the signed body's `created_at`), so a captured delivery
cannot be replayed later. Comparisons are constant-time. Pass the raw body, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from meterflow_client._models import APIObject
from meterflow_client._wire import decode
from meterflow_client.errors import MeterflowError

METERFLOW_HEADER = "meterflow-signature"
MONIGO_HEADER = "x-monigo-signature"


class WebhookVerificationError(MeterflowError):
    """The body is not signed with this secret, or is older than the tolerance: answer 400 and drop it."""


class WebhookEvent(APIObject):
    id: str
    type: str
    created_at: datetime
    is_test: bool
    data: dict[str, Any]


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _fields(header: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)


def _check_age(signed_at: float, now: float, tolerance: float) -> None:
    if abs(now - signed_at) > tolerance:
        raise WebhookVerificationError(f"signed {now - signed_at:.0f}s ago, outside the {tolerance:.0f}s window")


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str, tolerance: float = 300,
           now: float | None = None) -> WebhookEvent:
    """The event, once its signature and age are checked; raises `WebhookVerificationError` otherwise."""
    body = payload.encode() if isinstance(payload, str) else payload
    lowered = {name.lower(): value for name, value in headers.items()}
    moment = time.time() if now is None else now
    if METERFLOW_HEADER in lowered:
        fields = _fields(lowered[METERFLOW_HEADER])
        if not fields.get("t", "").isdigit() or "v1" not in fields:
            raise WebhookVerificationError("malformed Meterflow-Signature")
        expected = _hmac_hex(secret, fields["t"].encode() + b"." + body)
        if not hmac.compare_digest(expected, fields["v1"]):
            raise WebhookVerificationError("Meterflow-Signature does not match")
        _check_age(int(fields["t"]), moment, tolerance)
        return WebhookEvent.model_validate(decode(body))
    if MONIGO_HEADER in lowered:
        if not hmac.compare_digest(f"sha256={_hmac_hex(secret, body)}", lowered[MONIGO_HEADER]):
            raise WebhookVerificationError("X-Monigo-Signature does not match")
        event = WebhookEvent.model_validate(decode(body))
        _check_age(event.created_at.timestamp(), moment, tolerance)
        return event
    raise WebhookVerificationError("no signature header")
