"""The pure webhook rules: both signatures (checked against an independent computation), the retry
schedule, the address rule, subscription matching, the envelope; and the outbox written with each change
by the use cases (in the same unit of work: a rollback keeps neither)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from meterflow.domain.addresses import public_address
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import (
    Attempt,
    DeliveryStatus,
    DueDelivery,
    EndpointStatus,
    EventType,
    WebhookEndpoint,
    address_fault,
    build_event,
    event_body,
    events_fault,
    fan_out,
    meterflow_signature,
    monigo_signature,
    next_attempt_after_failure,
    outcome_of,
    parse_url,
    signed_headers,
    subscribed,
    subscription_event,
)

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
SECRET = "whsec_test_secret"
SCHEDULE = (30.0, 300.0, 1_800.0, 7_200.0, 28_800.0)


def test_monigo_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"id":"evt_1","type":"invoice.paid"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert monigo_signature(SECRET, body) == f"sha256={expected}"


def test_meterflow_signature_signs_the_timestamp_a_dot_and_the_body() -> None:
    body = b'{"a": 1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert meterflow_signature(SECRET, body, 1_700_000_000) == f"t=1700000000,v1={expected}"
    assert meterflow_signature("other", body, 1_700_000_000) != meterflow_signature(SECRET, body, 1_700_000_000)


def test_signed_headers_carry_both_signatures_of_the_same_bytes_at_the_given_time() -> None:
    body = b"{}"
    headers = signed_headers(SECRET, body, NOW)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Monigo-Signature"] == monigo_signature(SECRET, body)
    assert headers["Meterflow-Signature"] == meterflow_signature(SECRET, body, int(NOW.timestamp()))


@pytest.mark.parametrize(("attempts", "wait_s"), [(1, 30), (2, 300), (3, 1_800), (4, 7_200), (5, 28_800), (6, None),
                                                  (9, None)])
def test_the_schedule_waits_its_step_after_each_failure_then_gives_up(attempts: int, wait_s: int | None) -> None:
    after = next_attempt_after_failure(attempts, NOW, SCHEDULE)
    assert after == (None if wait_s is None else NOW + timedelta(seconds=wait_s))


def _due(attempts: int) -> DueDelivery:
    return DueDelivery("whd_1", Mode.TEST, "whe_1", "http://x", SECRET, "evt_1", {}, attempts, "tok", NOW)


@pytest.mark.parametrize(("code", "attempts", "status"), [
    (200, 0, DeliveryStatus.SUCCEEDED), (204, 4, DeliveryStatus.SUCCEEDED), (500, 0, DeliveryStatus.PENDING),
    (302, 0, DeliveryStatus.PENDING), (None, 4, DeliveryStatus.PENDING), (500, 5, DeliveryStatus.FAILED),
    (None, 5, DeliveryStatus.FAILED)])
def test_an_attempt_succeeds_on_2xx_only_and_fails_for_good_after_the_schedule(
        code: int | None, attempts: int, status: DeliveryStatus) -> None:
    attempt = Attempt(attempts + 1, NOW, 1_000, code, None if code else "timeout")
    outcome = outcome_of(_due(attempts), attempt, SCHEDULE)
    assert outcome.status is status
    if status is DeliveryStatus.PENDING:
        assert outcome.next_attempt_at == NOW + timedelta(seconds=1 + SCHEDULE[attempts])
    else:
        assert outcome.next_attempt_at is None


@pytest.mark.parametrize(("address", "public"), [
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.9", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("::1", False), ("fe80::1%eth0", False), ("fd00::1", False),
    ("::ffff:127.0.0.1", False), ("0.0.0.0", False), ("not-an-ip", False),
    # Not private, and not public either: CGNAT (a cloud metadata service lives there), multicast, broadcast,
    # benchmarking, documentation, reserved, deprecated site-local.
    ("100.64.0.1", False), ("100.100.100.200", False), ("224.0.0.1", False), ("239.1.2.3", False),
    ("255.255.255.255", False), ("198.18.0.1", False), ("192.0.2.1", False), ("240.0.0.1", False),
    ("ff02::1", False), ("ff0e::1", False), ("fec0::1", False), ("2001:db8::1", False),
    # An IPv4 address carried inside an IPv6 one is judged too: NAT64, 6to4, Teredo, mapped, compatible.
    ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::a00:1", False), ("64:ff9b::808:808", True),
    ("64:ff9b:1::808:808", False), ("2002:a9fe:a9fe::1", False), ("2002:7f00:1::", False),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False), ("::ffff:100.64.0.1", False), ("::ffff:8.8.8.8", True),
    ("::7f00:1", False), ("::a9fe:a9fe", False),
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True), ("2a00:1450:4001:80b::200e", True)])
def test_only_globally_routable_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert public_address(address) is public


def test_the_address_rule_applies_to_live_mode_unless_allowed() -> None:
    assert address_fault(Mode.LIVE, ["8.8.8.8", "127.0.0.1"], allow_private=False) is not None
    assert address_fault(Mode.LIVE, [], allow_private=False) == "the host does not resolve"
    assert address_fault(Mode.LIVE, ["8.8.8.8"], allow_private=False) is None
    assert address_fault(Mode.LIVE, ["127.0.0.1"], allow_private=True) is None
    assert address_fault(Mode.TEST, ["127.0.0.1"], allow_private=False) is None


@pytest.mark.parametrize(("url", "ok"), [
    ("https://hooks.example.com/meterflow?x=1", True), ("http://127.0.0.1:8080/in", True),
    ("ftp://example.com", False), ("https://", False), ("https://user:pw@example.com", False),
    ("https://example.com/#frag", False), ("https://exa mple.com", False), ("https://example.com:99999", False),
    ("https://[::1", False), ("https://ex\x00ample.com", False), ("javascript:alert(1)", False)])
def test_only_http_and_https_urls_with_a_host_are_accepted(url: str, ok: bool) -> None:
    parts, fault = parse_url(url)
    assert (fault is None) is ok and (parts is not None) is ok


def test_an_endpoint_lists_every_type_or_known_types_once() -> None:
    assert events_fault(["*"]) is None
    assert events_fault(["invoice.paid", "customer.created"]) is None
    assert events_fault([]) == (None, 'must list at least one event type, or be ["*"]')
    for listed in (["invoice.paid", "invoice.nope"], ["invoice.paid", "*"], ["invoice.paid", "invoice.paid"]):
        fault = events_fault(listed)
        assert fault is not None and fault[0] == 1, listed  # the second item is named


def _endpoint(mode: Mode, events: tuple[str, ...], status: EndpointStatus = EndpointStatus.ENABLED) -> WebhookEndpoint:
    return WebhookEndpoint(f"whe_{mode}_{'_'.join(events)}_{status}", mode, "http://x", events, None, status,
                           SECRET, NOW, NOW)


def test_an_event_fans_out_to_enabled_subscribed_endpoints_of_its_own_mode_only() -> None:
    event = build_event(EventType.INVOICE_PAID, Mode.TEST, "invoice", {"id": "inv_1"}, NOW)
    endpoints = [_endpoint(Mode.TEST, ("*",)), _endpoint(Mode.TEST, ("invoice.paid",)),
                 _endpoint(Mode.TEST, ("invoice.voided",)), _endpoint(Mode.LIVE, ("*",)),
                 _endpoint(Mode.TEST, ("*",), EndpointStatus.DISABLED)]
    chosen = [d.endpoint_id for d in fan_out(event, endpoints)]
    assert chosen == [endpoints[0].id, endpoints[1].id]
    assert subscribed(["*"], EventType.REPLAY_FAILED) and not subscribed(["replay.completed"], EventType.REPLAY_FAILED)


def test_the_envelope_is_api_md_s_and_its_bytes_are_stable() -> None:
    event = build_event(EventType.CUSTOMER_CREATED, Mode.LIVE, "customer", {"id": "cus_1", "n": 1}, NOW)
    assert event.id.startswith("evt_")
    body = event_body(event.payload)
    assert json.loads(body) == {"id": event.id, "type": "customer.created", "created_at": "2027-03-01T09:00:00Z",
                                "is_test": False, "data": {"customer": {"id": "cus_1", "n": 1}}}
    assert event_body(json.loads(body)) == body


@pytest.mark.parametrize(("before", "after", "event"), [
    (None, "active", EventType.SUBSCRIPTION_CREATED), ("active", "paused", EventType.SUBSCRIPTION_PAUSED),
    ("paused", "active", EventType.SUBSCRIPTION_RESUMED), ("active", "canceled", EventType.SUBSCRIPTION_CANCELED),
    ("paused", "canceled", EventType.SUBSCRIPTION_CANCELED), ("active", "active", None)])
def test_a_subscription_s_change_of_status_names_its_event(before: str | None, after: str,
                                                           event: EventType | None) -> None:
    assert subscription_event(before, after) is event
