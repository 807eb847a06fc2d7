"""`meterflow_client.webhooks.verify` accepts exactly what the webhook worker signs (the server's own
signing function), and refuses a changed body, a wrong secret and a replay outside the window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from meterflow.domain.webhooks import signed_headers
from meterflow_client.webhooks import WebhookVerificationError, verify

SECRET = "whsec_test"
SENT_AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
BODY = json.dumps({"id": "evt_1", "type": "invoice.finalized", "created_at": "2026-12-05T09:00:00Z", "is_test": True,
                   "data": {"invoice": {"id": "inv_1", "total": "4.00"}}}).encode()


def test_both_signatures_of_a_delivery_verify() -> None:
    headers = signed_headers(SECRET, BODY, SENT_AT)
    now = SENT_AT.timestamp() + 10
    event = verify(BODY, headers, SECRET, now=now)
    assert (event.id, event.type, event.data["invoice"]["id"]) == ("evt_1", "invoice.finalized", "inv_1")
    monigo_only = {"X-Monigo-Signature": headers["X-Monigo-Signature"]}
    assert verify(BODY.decode(), monigo_only, SECRET, now=now).id == "evt_1"


@pytest.mark.parametrize("header", ["Meterflow-Signature", "X-Monigo-Signature"])
def test_a_changed_body_or_another_secret_is_refused(header: str) -> None:
    signature = {header: signed_headers(SECRET, BODY, SENT_AT)[header]}
    now = SENT_AT.timestamp()
    with pytest.raises(WebhookVerificationError):
        verify(BODY.replace(b"4.00", b"0.01"), signature, SECRET, now=now)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, signature, "whsec_other", now=now)


@pytest.mark.parametrize("header", ["Meterflow-Signature", "X-Monigo-Signature"])
def test_a_delivery_replayed_after_the_window_is_refused(header: str) -> None:
    signature = {header: signed_headers(SECRET, BODY, SENT_AT)[header]}
    later = (SENT_AT + timedelta(seconds=301)).timestamp()
    with pytest.raises(WebhookVerificationError, match="window"):
        verify(BODY, signature, SECRET, tolerance=300, now=later)
    assert verify(BODY, signature, SECRET, tolerance=400, now=later).id == "evt_1"


def test_an_unsigned_or_malformed_delivery_is_refused() -> None:
    with pytest.raises(WebhookVerificationError):
        verify(BODY, {}, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, {"Meterflow-Signature": "v1=abc"}, SECRET)
