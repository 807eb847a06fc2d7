"""Webhooks (docs/api.md, "Webhooks"): the closed set of event types, the event envelope, both signatures, the
retry schedule, which endpoints an event goes to, and which URLs an endpoint may have. Pure: no clock (the
time is an argument), no network (resolved addresses are handed in).

Invariants:
- an event's `id` is minted once, when the change it reports is written, and every attempt to every
  endpoint carries the same bytes: receivers deduplicate by `id`;
- both signatures are computed over exactly the bytes sent;
- an event goes only to endpoints of its own mode that are enabled and subscribed to its type;
- after the last attempt of the schedule a delivery is `failed`, never retried on its own again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit

from meterflow.domain.addresses import public_address
from meterflow.domain.events import encode_json, format_timestamp
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.json_values import text_fault
from meterflow.domain.modes import Mode

ALL_EVENTS = "*"
MAX_URL_CHARS = 2_048
# What a receiver's answer is read up to (the rest is never read): a failing endpoint cannot make the
# worker buffer a large body, and the first bytes are enough to say why it failed.
MAX_RESPONSE_BYTES = 4_096
MAX_ERROR_CHARS = 500


class EventType(StrEnum):
    INVOICE_CREATED = "invoice.created"
    INVOICE_FINALIZED = "invoice.finalized"
    INVOICE_PAID = "invoice.paid"
    INVOICE_VOIDED = "invoice.voided"
    INVOICE_UNCOLLECTIBLE = "invoice.uncollectible"
    PAYMENT_SUCCESS = "payment.success"
    PAYMENT_FAILED = "payment.failed"
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_PAUSED = "subscription.paused"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_DELETED = "customer.deleted"
    REPLAY_COMPLETED = "replay.completed"
    REPLAY_FAILED = "replay.failed"
    ALERT_TRIGGERED = "alert.triggered"
    WALLET_CREDITED = "wallet.credited"
    WALLET_DEBITED = "wallet.debited"


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class WebhookEvent:
    """One change, as recorded in the outbox; `payload` is the envelope sent, `data` included."""

    id: str
    type: EventType
    mode: Mode
    created_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    mode: Mode
    url: str
    events: tuple[str, ...]
    description: str | None
    status: EndpointStatus
    secret: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewDelivery:
    """One (event, endpoint) to deliver, first due when the event was recorded."""

    id: str
    event: WebhookEvent
    endpoint_id: str


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(24)}"


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed by one worker until `lease_until`: what it needs to send it."""

    id: str
    mode: Mode
    endpoint_id: str
    url: str
    secret: str
    event_id: str
    payload: dict[str, Any]
    attempts: int  # made before this one
    claim_token: str
    lease_until: datetime


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class AttemptOutcome:
    """One attempt's result, and the delivery's state after it (domain `outcome_of`)."""

    delivery_id: str
    claim_token: str
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    id: str
    mode: Mode
    endpoint_id: str
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    history: tuple[Attempt, ...] = ()


def build_event(event_type: EventType, mode: Mode, object_name: str, object_json: dict[str, Any],
                at: datetime, event_id: str | None = None) -> WebhookEvent:
    """The envelope of docs/api.md: `{"id", "type", "created_at", "is_test", "data": {"<object name>": {...}}}`."""
    event_id = event_id or new_id(IdKind.WEBHOOK_EVENT)
    payload = {"id": event_id, "type": event_type.value, "created_at": format_timestamp(at),
               "is_test": mode is Mode.TEST, "data": {object_name: object_json}}
    return WebhookEvent(event_id, event_type, mode, at, payload)


def event_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): the same for every attempt of an event."""
    return encode_json(payload)


def subscribed(endpoint_events: Iterable[str], event_type: EventType) -> bool:
    return any(e in (ALL_EVENTS, event_type.value) for e in endpoint_events)


def receivers(endpoints: Iterable[WebhookEndpoint], event_type: EventType, mode: Mode) -> list[WebhookEndpoint]:
    """The endpoints an event goes to: of its mode, enabled, subscribed to its type."""
    return [e for e in endpoints
            if e.mode is mode and e.status is EndpointStatus.ENABLED and subscribed(e.events, event_type)]


def fan_out(event: WebhookEvent, endpoints: Iterable[WebhookEndpoint]) -> list[NewDelivery]:
    """One delivery per receiver of the event."""
    return [NewDelivery(new_id(IdKind.WEBHOOK_DELIVERY), event, e.id)
            for e in receivers(endpoints, event.type, event.mode)]


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def monigo_signature(secret: str, body: bytes) -> str:
    """`X-Monigo-Signature`: what receivers written for Monigo verify."""
    return f"sha256={_hmac_hex(secret, body)}"


def meterflow_signature(secret: str, body: bytes, unix_seconds: int) -> str:
    """`Meterflow-Signature`: signs the time too, so a receiver can refuse an old message replayed."""
    return f"t={unix_seconds},v1={_hmac_hex(secret, str(unix_seconds).encode() + b'.' + body)}"


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Monigo-Signature": monigo_signature(secret, body),
            "Meterflow-Signature": meterflow_signature(secret, body, int(now.timestamp())),
            "User-Agent": "meterflow-webhooks/1"}


def next_attempt_after_failure(attempts_made: int, now: datetime,
                               schedule_s: Sequence[float]) -> datetime | None:
    """When to try again after the `attempts_made`-th attempt failed: the schedule's wait for that
    attempt, or None (failed) once the schedule is used up. A retry asked for after that gets one
    attempt: its failure is final again."""
    if 1 <= attempts_made <= len(schedule_s):
        return now + timedelta(seconds=schedule_s[attempts_made - 1])
    return None


def succeeded(status_code: int | None) -> bool:
    """A 2xx is success; anything else (3xx too: redirects are not followed) is retried."""
    return status_code is not None and 200 <= status_code < 300


def outcome_of(due: DueDelivery, attempt: Attempt, schedule_s: Sequence[float]) -> AttemptOutcome:
    """Succeeded on a 2xx; otherwise pending until the next attempt of the schedule, or failed after it."""
    if succeeded(attempt.status_code):
        return AttemptOutcome(due.id, due.claim_token, attempt, DeliveryStatus.SUCCEEDED, None)
    after = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
    retry_at = next_attempt_after_failure(attempt.number, after, schedule_s)
    status = DeliveryStatus.PENDING if retry_at else DeliveryStatus.FAILED
    return AttemptOutcome(due.id, due.claim_token, attempt, status, retry_at)


def events_fault(events: Sequence[str]) -> tuple[int | None, str] | None:
    """`["*"]`, or known types each listed once: the index at fault (None: the list) and why."""
    if not events:
        return None, "must list at least one event type, or be [\"*\"]"
    if ALL_EVENTS in events and len(events) > 1:
        return events.index(ALL_EVENTS), "\"*\" (every type) must be the only item"
    known = {t.value for t in EventType} | {ALL_EVENTS}
    for index, event in enumerate(events):
        if event not in known:
            return index, f"unknown event type {event!r}"
        if event in events[:index]:
            return index, f"{event!r} is listed twice"
    return None


def parse_url(url: str) -> tuple[SplitResult | None, str | None]:
    """The URL split, or why it cannot be an endpoint: http or https, a host, no credentials, no fragment,
    printable ASCII (an IDN host is written in its punycode form)."""
    if len(url) > MAX_URL_CHARS:
        return None, f"must be at most {MAX_URL_CHARS} characters"
    if text_fault(url) or not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return None, "must be printable ASCII without spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port out of range
    except ValueError as exc:
        return None, f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return None, "must be an http:// or https:// URL"
    if not parts.hostname:
        return None, "must name a host"
    if parts.username is not None or parts.password is not None:
        return None, "must not carry credentials"
    if parts.fragment:
        return None, "must not have a fragment"
    return parts, None


def address_fault(mode: Mode, addresses: Sequence[str], allow_private: bool) -> str | None:
    """In live mode (unless allowed by settings) every address the host resolves to must be public; test
    mode may call anything, so that a developer can point it at a local receiver."""
    if mode is Mode.TEST or allow_private:
        return None
    if not addresses:
        return "the host does not resolve"
    refused = [a for a in addresses if not public_address(a)]
    if refused:
        return (f"resolves to {refused[0]}, which is not a public (globally routable unicast) address: live "
                "mode refuses it (MF_WEBHOOK_ALLOW_PRIVATE_URLS allows it)")
    return None


def error_text(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "…"


def subscription_event(before: str | None, after: str) -> EventType | None:
    """The event a subscription's change of status reports (None: created, or no change of status)."""
    if before is None:
        return EventType.SUBSCRIPTION_CREATED
    if before == after:
        return None
    return {"paused": EventType.SUBSCRIPTION_PAUSED, "canceled": EventType.SUBSCRIPTION_CANCELED,
            "active": EventType.SUBSCRIPTION_RESUMED if before == "paused" else None}.get(after)


@dataclass(frozen=True)
class FailedAttempts:
    """How many attempts to one endpoint failed (an error or a status outside 2xx) within one UTC hour."""

    endpoint_id: str
    hour: datetime
    count: int
